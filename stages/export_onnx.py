"""Stage export_onnx@S (and export_teacher): optimum export of a model, checked against PyTorch on real test texts."""

import argparse
import logging

from textslim.atomic import atomic_dir, write_json
from textslim.cli import run_stage
from textslim.data import read_prepared
from textslim.forms import SIDE_REPORTS, read_student_record, write_student_record
from textslim.onnx_export import export_to_onnx, optimize_graph, parity
from textslim.params import load_params

log = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    params = load_params(args.params)
    splits, _ = read_prepared(args.data)
    texts = splits["test"]["text"].head(params.export_onnx.parity_texts).tolist()
    max_length = read_student_record(args.model)["max_length"]
    with atomic_dir(args.out) as tmp:
        export_to_onnx(args.model, tmp)
        optimization = optimize_graph(tmp, params.export_onnx.optimization)
        report = {**parity(args.model, tmp, texts, max_length, params.export_onnx.tolerance),
                  "optimization": optimization}
        write_student_record(tmp, read_student_record(args.model))
        write_json(tmp / SIDE_REPORTS["parity"], report)
    log.info("exported %s: max |ONNX - PyTorch| = %.2e on %d test texts", args.model, report["max_abs_diff"],
             report["texts"])


if __name__ == "__main__":
    run_stage(main)
