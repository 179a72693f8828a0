"""Stage quantize@S: INT8 quantization of the ONNX student with ONNX Runtime (via optimum): dynamic, or static with
activation ranges calibrated on training texts (quantize.mode)."""

import argparse
import logging
from pathlib import Path

from textslim.atomic import atomic_dir
from textslim.cli import run_stage
from textslim.compress.quantize import quantize_folder
from textslim.data import read_prepared
from textslim.forms import ONNX_INT8
from textslim.params import load_params

log = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--model", required=True, help="directory holding model.onnx")
    parser.add_argument("--data", required=True, help="prepared splits (static mode's calibration texts)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    params = load_params(args.params)
    cfg = params.quantize
    train = read_prepared(args.data)[0]["train"]["text"].tolist() if cfg.mode == "static" else None
    with atomic_dir(args.out) as tmp:
        record = quantize_folder(args.model, tmp, cfg, train, params.seed)
    size = (Path(args.out) / ONNX_INT8.file).stat().st_size
    source = "detected from the CPU" if cfg.preset == "auto" else "from params"
    log.info("quantized %s -> %s/%s (%.1f MB), %s, preset %s (%s), %s scales", args.model, args.out, ONNX_INT8.file,
             size / 1e6, cfg.mode, record["preset"], source, record["scales"])


if __name__ == "__main__":
    run_stage(main)
