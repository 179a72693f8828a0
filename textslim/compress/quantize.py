"""INT8 quantization with optimum's ORTQuantizer, the preset chosen from the CPU's features: dynamic (activation scales
computed per call), static (activation ranges calibrated once on training texts), or auto (both, then the one
textslim.compress.int8_choice keeps: static where it costs neither accuracy nor speed)."""

import logging
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from textslim.atomic import write_json
from textslim.compress.embedding_bits import copy_at_opset, embeddings_label, embeddings_to_4bit
from textslim.compress.int8_choice import MODES, compare_modes
from textslim.cpu import describe_cpu, int8_path
from textslim.errors import TextslimError
from textslim.forms import SIDE_REPORTS, read_student_record, write_model_files
from textslim.params import QuantizeParams

log = logging.getLogger(__name__)


# The preset `auto` picks on each int8 path (textslim/cpu.py). With VNNI, u8 x s8 was 1.3-1.4x faster than u8 x u8 at
# batch 1 with no decided accuracy loss (reports/int8-portability.md). Without VNNI, optimum's u8 x s8 presets run a
# kernel that can saturate, so such CPUs get avx2's exact u8 x u8: a rule until the same table is run on such a CPU.
AUTO_PRESETS = {"vnni": "avx512_vnni", "no-vnni": "avx2", "arm64": "arm64"}
TYPE_NAMES = {"QUInt8": "uint8", "QInt8": "int8"}
REDUCE_RANGE_PRESETS = ("avx2", "avx512")  # the presets whose optimum constructor takes reduce_range


def detect_preset(flags: set[str] | None = None, machine: str | None = None) -> str:
    """The dynamic-quantization preset `auto` means on this CPU (or on one with these flags)."""
    return AUTO_PRESETS[int8_path(flags, machine)]


def resolve_preset(preset: str) -> str:
    """The preset to use: the one params name, or the CPU's best for "auto"."""
    return detect_preset() if preset == "auto" else preset


def quantization_config(preset: str, *, is_static: bool = False, per_channel: bool = False,
                        reduce_range: bool = False, embeddings: bool = True):
    """optimum's QuantizationConfig for a preset ("auto" resolved on this CPU); reduce_range quantizes weights to 7
    bits, which keeps ONNX Runtime's u8 x s8 kernel from saturating on CPUs without VNNI. embeddings=False leaves the
    Gathers (embedding tables) in float, for textslim.compress.embedding_bits to take to 4 bits."""
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    chosen = resolve_preset(preset)
    if reduce_range and chosen not in REDUCE_RANGE_PRESETS:
        raise TextslimError(f"reduce_range: optimum's {chosen} preset has no such option; it has "
                            f"{' and '.join(REDUCE_RANGE_PRESETS)} only")
    extra = {"reduce_range": True} if reduce_range else {}
    config = getattr(AutoQuantizationConfig, chosen)(is_static=is_static, per_channel=per_channel, **extra)
    if not embeddings:
        config.operators_to_quantize = [op for op in config.operators_to_quantize if op != "Gather"]
    return config


def operand_types(config) -> dict:
    """The integer types a quantization config gives the integer GEMMs' operands (activations, weights), read from the
    config itself; embedding tables (Gather) are quantized apart: uint8 in every preset, or 4-bit (embedding_bits)."""
    return {"activations": TYPE_NAMES[config.activations_dtype.name], "weights": TYPE_NAMES[config.weights_dtype.name],
            "reduce_range": bool(config.reduce_range)}


def operands_label(operands: dict) -> str:
    """activations x weights, as reports write them: "uint8 x int8", "uint8 x int8 (7-bit weights)"."""
    seven_bits = " (7-bit weights)" if operands["reduce_range"] else ""
    return f"{operands['activations']} x {operands['weights']}{seven_bits}"


def quantize_dynamic(onnx_dir: str | Path, out_dir: str | Path, preset: str, *, per_channel: bool,
                     reduce_range: bool = False, embeddings: bool = True) -> Path:
    """Write out_dir/model_quantized.onnx: INT8 weights for MatMul and (unless embeddings=False) Gather (embeddings).

    per_channel gives each output channel of a weight its own scale instead of one per tensor; scripts/int8_schemes.py
    measures what that buys (accuracy) and costs (latency) on one exported student."""
    from optimum.onnxruntime import ORTQuantizer

    chosen = resolve_preset(preset)
    config = quantization_config(chosen, per_channel=per_channel, reduce_range=reduce_range, embeddings=embeddings)
    log.info("quantizing with the %s preset%s", chosen, ", 7-bit weights" if reduce_range else "")
    quantizer = ORTQuantizer.from_pretrained(str(onnx_dir), file_name="model.onnx")
    quantizer.quantize(save_dir=str(out_dir), quantization_config=config)
    return Path(out_dir) / "model_quantized.onnx"


def quantize_static(onnx_dir: str | Path, out_dir: str | Path, preset: str, *, per_channel: bool, texts: list[str],
                    max_length: int, embeddings: bool = True) -> Path:
    """Write out_dir/model_quantized.onnx with fixed activation scales: optimum's minmax calibration over `texts`,
    one text per calibration call (the serving condition).

    Dynamic INT8 computes each activation's scale from the call's whole input, so a text's prediction can change
    with the texts batched with it; with static scales it cannot (reports/int8-static-spread.md: 15 flipped test
    predictions dynamic, 0 static, for 5% more batch-1 latency).
    """
    import onnxruntime as ort
    from datasets import Dataset
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoCalibrationConfig
    from transformers import AutoTokenizer

    onnx_dir, out_dir = Path(onnx_dir), Path(out_dir)
    chosen = resolve_preset(preset)
    inputs = [i.name for i in ort.InferenceSession(str(onnx_dir / "model.onnx")).get_inputs()]
    encoded = AutoTokenizer.from_pretrained(onnx_dir)(texts, truncation=True, max_length=max_length)
    dataset = Dataset.from_dict({name: encoded[name] for name in inputs})
    config = quantization_config(chosen, is_static=True, per_channel=per_channel, embeddings=embeddings)
    log.info("quantizing with the %s preset, static scales from %d texts", chosen, len(texts))
    quantizer = ORTQuantizer.from_pretrained(str(onnx_dir), file_name="model.onnx")
    with tempfile.TemporaryDirectory(prefix="textslim-calibrate-") as tmp:
        ranges = quantizer.fit(dataset=dataset, calibration_config=AutoCalibrationConfig.minmax(dataset),
                               operators_to_quantize=config.operators_to_quantize,
                               onnx_augmented_model_name=Path(tmp) / "augmented.onnx")
    quantizer.quantize(save_dir=str(out_dir), quantization_config=config, calibration_tensors_range=ranges)
    return out_dir / "model_quantized.onnx"


def quantize_folder(onnx_dir: str | Path, out_dir: str | Path, cfg: QuantizeParams,
                    train_texts: list[str] | None = None, seed: int = 0, reduce_range: bool = False,
                    validation: pd.DataFrame | None = None) -> dict:
    """The quantize stage's work, for the stage and every study alike: the ONNX model in onnx_dir quantized by cfg
    into out_dir, with the model files beside it and quantize.json, which it returns: the mode, the preset, the
    operand types as the quantizer writes them, and the CPU they were quantized on (the pipeline scores them there
    too). Static mode calibrates on cfg.calibration_texts of train_texts, drawn with seed; auto quantizes both ways
    and keeps the one textslim.compress.int8_choice picks on `validation` (text and label columns)."""
    onnx_dir, out_dir = Path(onnx_dir), Path(out_dir)
    preset = resolve_preset(cfg.preset)
    if cfg.mode in ("static", "auto") and not train_texts:
        raise TextslimError(f"quantize.mode = '{cfg.mode}' needs training texts to calibrate on")
    calibration = (pd.Series(train_texts).sample(min(cfg.calibration_texts, len(train_texts)), random_state=seed)
                   .tolist() if train_texts else [])

    int8_tables = cfg.embedding_bits == 8

    def quantize_as(mode: str, folder: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="textslim-opset-") as tmp:
            source = onnx_dir if int8_tables else copy_at_opset(onnx_dir, tmp)
            if mode == "static":
                quantize_static(source, folder, preset, per_channel=cfg.per_channel, texts=calibration,
                                max_length=read_student_record(onnx_dir)["max_length"], embeddings=int8_tables)
            else:
                quantize_dynamic(source, folder, preset, per_channel=cfg.per_channel, reduce_range=reduce_range,
                                 embeddings=int8_tables)
        if not int8_tables:
            embeddings_to_4bit(folder / "model_quantized.onnx", cfg.embedding_block_size)
        write_model_files(onnx_dir, folder)

    choice = None
    if cfg.mode == "auto":
        if validation is None or validation.empty:
            raise TextslimError("quantize.mode = 'auto' needs the validation split to choose between dynamic and "
                                "static INT8 on")
        with tempfile.TemporaryDirectory(prefix="textslim-int8-") as tmp:
            folders = {mode: Path(tmp) / mode for mode in MODES}
            for mode, folder in folders.items():
                quantize_as(mode, folder)
            choice = compare_modes(folders, validation, read_student_record(onnx_dir)["max_length"],
                                   cfg.auto_latency_texts, cfg.auto_max_drop_points, cfg.auto_max_slowdown,
                                   cfg.auto_max_growth)
            shutil.copytree(folders[choice["mode"]], out_dir, dirs_exist_ok=True)
        mode = choice["mode"]
    else:
        mode = cfg.mode
        quantize_as(mode, out_dir)
    record = {"preset": preset, "requested": cfg.preset, "mode": mode, "requested_mode": cfg.mode,
              **operand_types(quantization_config(preset, reduce_range=reduce_range)),
              "scales": "per-channel" if cfg.per_channel else "per-tensor", "embeddings": embeddings_label(cfg),
              "cpu": describe_cpu(),
              **({"auto": choice} if choice else {})}
    write_json(out_dir / SIDE_REPORTS["quantize"], record)
    return record
