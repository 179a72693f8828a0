"""Quantize one exported student per-tensor, per-channel and static; compare accuracy, size and latency side by side.

The pipeline quantizes with the scheme `quantize.per_channel` names. This script measures what per-channel weights buy
(accuracy) and cost (latency) against per-tensor on the same graph, on the test split, with latency timed interleaved
in one process like `compare` does; it is how that param's default was chosen. It also measures static INT8
(activation ranges calibrated once on training texts, optimum's minmax calibration): dynamic INT8 computes each
activation's scale per call, so a text's prediction can change with the texts batched with it; static scales cannot.
For every scheme: accuracy at batch 64 and at batch 1, and the test predictions that differ between the two.

    python scripts/int8_schemes.py --onnx models/onnx/spread --out reports/int8-schemes.md
"""

import argparse
import tempfile
from pathlib import Path

import pandas as pd

from textslim.data import read_prepared
from textslim.evaluation import at_batch_one, predict, student_description
from textslim.quantize import copy_model_files, quantize_dynamic, quantize_static, resolve_preset
from textslim.study import markdown, measure, onnx_variant

SCHEMES = {"per-tensor": False, "per-channel": True}
CALIBRATION_TEXTS = 256


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
        calibration = splits["train"]["text"].sample(CALIBRATION_TEXTS, random_state=0).tolist()
        quantize_static(args.onnx, Path(tmp) / "static", preset, per_channel=True, texts=calibration,
                        max_length=max_length)
        copy_model_files(args.onnx, Path(tmp) / "static")
        variants["static (per-channel)"] = onnx_variant(Path(tmp) / "static", max_length, "model_quantized.onnx")
        frame = measure(variants, test, labels, args.latency_texts)
        alone = {}
        for name, variant in variants.items():  # batch 1 against the evaluate stage's batch of 64
            batched = predict(variant.classifier, test["text"].tolist(), 64)
            alone[name] = at_batch_one(variant.classifier, test, labels, batched)
        table = markdown(frame)
        flips = pd.DataFrame([{"variant": name, "accuracy, batch 64": f"{100 * acc:.2f}",
                               "accuracy, batch 1": f"{100 * alone[name]['accuracy_batch1']:.2f}",
                               "predictions that differ": alone[name]["flips_vs_batched"]}
                              for name, acc in zip(frame["variant"], frame["accuracy"])])
        table += "\n\n" + flips.to_markdown(index=False, disable_numparse=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    label = args.label or f"`{args.onnx}`"
    args.out.write_text(f"# INT8 schemes for {label}\n\nDynamic quantization (static where named), preset `{preset}`, "
                        f"test split ({len(test)} texts); latency at batch 1 over {args.latency_texts} test texts, "
                        f"the variants interleaved in one process. Static: minmax ranges from {CALIBRATION_TEXTS} "
                        f"training texts.\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    main()
