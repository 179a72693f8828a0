"""Dynamic INT8 quantization with optimum's ORTQuantizer, the preset chosen from the CPU's features."""

import logging
import platform
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


def quantize_dynamic(onnx_dir: str | Path, out_dir: str | Path, preset: str, per_channel: bool = False) -> Path:
    """Write out_dir/model_quantized.onnx: INT8 weights for MatMul and Gather (embeddings), per-tensor by default.

    Per-channel scales cost less accuracy on bigger encoders (scripts/int8_schemes.py measured it); the pipeline does
    not use them yet."""
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    chosen = resolve_preset(preset)
    config = getattr(AutoQuantizationConfig, chosen)(is_static=False, per_channel=per_channel)
    log.info("quantizing with the %s preset", chosen)
    quantizer = ORTQuantizer.from_pretrained(str(onnx_dir), file_name="model.onnx")
    quantizer.quantize(save_dir=str(out_dir), quantization_config=config)
    return Path(out_dir) / "model_quantized.onnx"
