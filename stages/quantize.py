"""Stage quantize@S: INT8 quantization of the ONNX student with ONNX Runtime (via optimum): dynamic, or static with
activation ranges calibrated on training texts (quantize.mode)."""

import argparse
import logging
from pathlib import Path

from textslim.atomic import atomic_dir, write_json
from textslim.cli import run_stage
from textslim.cpu import describe_cpu
from textslim.data import read_prepared
from textslim.forms import SIDE_REPORTS, read_student_record, write_model_files
from textslim.params import load_params
from textslim.quantize import (
    operand_types,
    quantization_config,
    quantize_dynamic,
    quantize_static,
    resolve_preset,
)

log = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--model", required=True, help="directory holding model.onnx")
    parser.add_argument("--data", required=True, help="prepared splits (static mode's calibration texts)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    all_params = load_params(args.params)
    params = all_params.quantize
    preset = resolve_preset(params.preset)
    scales = "per-channel" if params.per_channel else "per-tensor"
    with atomic_dir(args.out) as tmp:
        if params.mode == "static":
            train = read_prepared(args.data)[0]["train"]
            texts = train["text"].sample(min(params.calibration_texts, len(train)), random_state=all_params.seed)
            max_length = read_student_record(args.model)["max_length"]
            path = quantize_static(args.model, tmp, preset, per_channel=params.per_channel, texts=texts.tolist(),
                                   max_length=max_length)
        else:
            path = quantize_dynamic(args.model, tmp, preset, per_channel=params.per_channel)
        write_model_files(args.model, tmp)
        # the operand types as the quantizer writes them, and the CPU they were quantized on (the pipeline scores
        # them there too; evaluate records its own CPU in the metrics)
        write_json(tmp / SIDE_REPORTS["quantize"], {"preset": preset, "requested": params.preset, "mode": params.mode,
                                           **operand_types(quantization_config(preset)), "scales": scales,
                                           "cpu": describe_cpu()})
    size = (Path(args.out) / path.name).stat().st_size
    log.info("quantized %s -> %s/%s (%.1f MB), %s, preset %s (%s), %s scales", args.model, args.out, path.name,
             size / 1e6, params.mode, preset, "detected from the CPU" if params.preset == "auto" else "from params",
             scales)


if __name__ == "__main__":
    run_stage(main)
