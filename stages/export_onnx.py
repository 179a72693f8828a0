"""Stage export_onnx@S (and export_teacher): optimum export of a model, checked against PyTorch on real test texts."""

import argparse
import logging

from textslim.atomic import atomic_dir
from textslim.cli import run_stage
from textslim.compress.onnx_export import export_folder
from textslim.data import read_prepared
from textslim.params import load_params

log = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    cfg = load_params(args.params).export_onnx
    splits, _ = read_prepared(args.data)
    with atomic_dir(args.out) as tmp:
        report = export_folder(args.model, tmp, cfg, splits["test"]["text"].head(cfg.parity_texts).tolist())
    log.info("exported %s: max |ONNX - PyTorch| = %.2e on %d test texts", args.model, report["max_abs_diff"],
             report["texts"])


if __name__ == "__main__":
    run_stage(main)
