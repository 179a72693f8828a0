"""INT8 quantization with optimum's ORTQuantizer, the preset chosen from the CPU's features: dynamic (activation scales
computed per call) or static (activation ranges calibrated once on training texts)."""

import logging
import platform
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def cpu_flags() -> set[str]:
    """The CPU feature flags the kernel reports (empty where /proc/cpuinfo does not exist)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def detect_preset(flags: set[str] | None = None, machine: str | None = None) -> str:
    """The best dynamic-quantization preset this CPU supports."""
    machine = (machine or platform.machine()).lower()
    if machine in ("arm64", "aarch64"):
        return "arm64"
    flags = cpu_flags() if flags is None else flags
    if "avx512_vnni" in flags or "avx512vnni" in flags:
        return "avx512_vnni"
    if "avx512f" in flags:
        return "avx512"
    return "avx2"


def resolve_preset(preset: str) -> str:
    """The preset to use: the one params name, or the CPU's best for "auto"."""
    return detect_preset() if preset == "auto" else preset


def quantize_dynamic(onnx_dir: str | Path, out_dir: str | Path, preset: str, *, per_channel: bool) -> Path:
    """Write out_dir/model_quantized.onnx: INT8 weights for MatMul and Gather (embeddings).

    per_channel gives each output channel of a weight its own scale instead of one per tensor; scripts/int8_schemes.py
    measures what that buys (accuracy) and costs (latency) on one exported student."""
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    chosen = resolve_preset(preset)
    config = getattr(AutoQuantizationConfig, chosen)(is_static=False, per_channel=per_channel)
    log.info("quantizing with the %s preset", chosen)
    quantizer = ORTQuantizer.from_pretrained(str(onnx_dir), file_name="model.onnx")
    quantizer.quantize(save_dir=str(out_dir), quantization_config=config)
    return Path(out_dir) / "model_quantized.onnx"


def quantize_static(onnx_dir: str | Path, out_dir: str | Path, preset: str, *, per_channel: bool, texts: list[str],
                    max_length: int) -> Path:
    """Write out_dir/model_quantized.onnx with fixed activation scales: optimum's minmax calibration over `texts`,
    one text per calibration call (the serving condition).

    Dynamic INT8 computes each activation's scale from the call's whole input, so a text's prediction can change
    with the texts batched with it; with static scales it cannot (reports/int8-static-spread.md: 15 flipped test
    predictions dynamic, 0 static, for 5% more batch-1 latency).
    """
    import onnxruntime as ort
    from datasets import Dataset
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoCalibrationConfig, AutoQuantizationConfig
    from transformers import AutoTokenizer

    onnx_dir, out_dir = Path(onnx_dir), Path(out_dir)
    chosen = resolve_preset(preset)
    inputs = [i.name for i in ort.InferenceSession(str(onnx_dir / "model.onnx")).get_inputs()]
    encoded = AutoTokenizer.from_pretrained(onnx_dir)(texts, truncation=True, max_length=max_length)
    dataset = Dataset.from_dict({name: encoded[name] for name in inputs})
    config = getattr(AutoQuantizationConfig, chosen)(is_static=True, per_channel=per_channel)
    log.info("quantizing with the %s preset, static scales from %d texts", chosen, len(texts))
    quantizer = ORTQuantizer.from_pretrained(str(onnx_dir), file_name="model.onnx")
    with tempfile.TemporaryDirectory(prefix="textslim-calibrate-") as tmp:
        ranges = quantizer.fit(dataset=dataset, calibration_config=AutoCalibrationConfig.minmax(dataset),
                               operators_to_quantize=config.operators_to_quantize,
                               onnx_augmented_model_name=Path(tmp) / "augmented.onnx")
    quantizer.quantize(save_dir=str(out_dir), quantization_config=config, calibration_tensors_range=ranges)
    return out_dir / "model_quantized.onnx"


def copy_model_files(onnx_dir: str | Path, out_dir: str | Path) -> None:
    """Copy the exported model's side files (tokenizer, word vocabulary, config, earlier stages' reports) next to the
    quantized graph, so that the INT8 directory loads on its own like the fp32 one."""
    out_dir = Path(out_dir)
    for path in Path(onnx_dir).iterdir():
        if path.suffix in (".json", ".txt") and not (out_dir / path.name).exists():
            shutil.copy(path, out_dir / path.name)
