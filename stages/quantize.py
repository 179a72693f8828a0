"""Stage quantize@S: INT8 quantization of the ONNX student with ONNX Runtime (via optimum): dynamic, static with
activation ranges calibrated on training texts, or auto: both, static kept where on validation it costs neither
accuracy nor batch-1 speed (quantize.mode)."""

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
    parser.add_argument("--data", required=True,
                        help="prepared splits (static and auto: the calibration texts; auto: the validation split)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    params = load_params(args.params)
    cfg = params.quantize
    splits = read_prepared(args.data)[0] if cfg.mode in ("static", "auto") else {}
    train = splits["train"]["text"].tolist() if splits else None
    with atomic_dir(args.out) as tmp:
        record = quantize_folder(args.model, tmp, cfg, train, params.seed, validation=splits.get("validation"))
    size = (Path(args.out) / ONNX_INT8.file).stat().st_size
    source = "detected from the CPU" if cfg.preset == "auto" else "from params"
    chosen = " (chosen by quantize.mode auto)" if cfg.mode == "auto" else ""
    log.info("quantized %s -> %s/%s (%.1f MB), %s%s, preset %s (%s), %s scales", args.model, args.out,
             ONNX_INT8.file, size / 1e6, record["mode"], chosen, record["preset"], source, record["scales"])


if __name__ == "__main__":
    run_stage(main)
