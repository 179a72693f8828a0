"""Quantize one exported student per-tensor and per-channel, and compare accuracy, size and latency side by side.

The pipeline quantizes with the scheme `quantize.per_channel` names. This script measures what per-channel weights buy
(accuracy) and cost (latency) against per-tensor on the same graph, on the test split, with latency timed interleaved
in one process like `compare` does; it is how that param's default was chosen.

    python scripts/int8_schemes.py --onnx models/onnx/spread --out reports/int8-schemes.md
"""

import argparse
import tempfile
from pathlib import Path

from textslim.data import read_prepared
from textslim.evaluation import student_description
from textslim.quantize import copy_model_files, quantize_dynamic, resolve_preset
from textslim.study import markdown, measure, onnx_variant

SCHEMES = {"per-tensor": False, "per-channel": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--onnx", required=True, type=Path, help="an export_onnx output directory (model.onnx)")
    parser.add_argument("--data", default="data/prepared")
    parser.add_argument("--preset", default="auto")
    parser.add_argument("--latency-texts", type=int, default=200)
    parser.add_argument("--label", help="what to call the model in the report (default: the --onnx path)")
    parser.add_argument("--out", required=True, type=Path, help="the markdown report to write")
    args = parser.parse_args()

    splits, labels = read_prepared(args.data)
    test = splits["test"]
    max_length = student_description(args.onnx)["max_length"]
    preset = resolve_preset(args.preset)
    with tempfile.TemporaryDirectory() as tmp:
        variants = {"fp32": onnx_variant(args.onnx, max_length)}
        for name, per_channel in SCHEMES.items():
            out = Path(tmp) / name
            quantize_dynamic(args.onnx, out, preset, per_channel=per_channel)
            copy_model_files(args.onnx, out)  # OnnxClassifier loads the tokenizer from the model's directory
            variants[name] = onnx_variant(out, max_length, "model_quantized.onnx")
        table = markdown(measure(variants, test, labels, args.latency_texts))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    label = args.label or f"`{args.onnx}`"
    args.out.write_text(f"# INT8 weight schemes for {label}\n\nDynamic quantization, preset `{preset}`, "
                        f"test split ({len(test)} texts); latency at batch 1 over {args.latency_texts} test texts, "
                        f"the variants interleaved in one process.\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    main()
