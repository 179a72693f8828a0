"""Stage evaluate@S: test-split metrics, size and parameters of every form of student S."""

import argparse
import json
import logging
from pathlib import Path

import pandas as pd

from textslim.atomic import atomic_file, write_json
from textslim.cli import run_stage
from textslim.cpu import describe_cpu
from textslim.data import read_prepared
from textslim.evaluation import at_batch_one, count_parameters, deployed_bytes, predict, student_description
from textslim.inference import OnnxClassifier, TorchClassifier, load_torch_model
from textslim.metrics import classification_metrics
from textslim.params import load_params

log = logging.getLogger(__name__)
SIDE_REPORTS = ("sparsity", "parity", "quantize")  # what prune, export and quantize wrote beside the model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--student", required=True)
    parser.add_argument("--data", default="data/prepared")
    parser.add_argument("--distilled", help="the distilled PyTorch model (left out for the teacher)")
    parser.add_argument("--pruned", help="the pruned PyTorch model (left out for the teacher)")
    parser.add_argument("--source", required=True, help="the PyTorch model the ONNX forms were exported from")
    parser.add_argument("--onnx", required=True)
    parser.add_argument("--quantized", required=True)
    parser.add_argument("--out", required=True, help="metrics JSON (scalars for dvc metrics; confusion matrices)")
    parser.add_argument("--predictions-out", required=True,
                        help="CSV of every form's predicted class id per test text, in the split's order (the "
                             "compare stage's paired intervals read it)")
    args = parser.parse_args()

    params = load_params(args.params)
    splits, labels = read_prepared(args.data)
    recipe = student_description(args.onnx)  # travels with the model from the distill stage on
    max_length, batch_size = recipe["max_length"], params.evaluate.batch_size
    # The PyTorch forms count parameters from the module; the ONNX forms ship the last PyTorch form's parameters.
    forms = {}
    if args.distilled:
        forms["distilled-fp32"] = (TorchClassifier(args.distilled, max_length), args.distilled, "model.safetensors")
    if args.pruned:
        forms["pruned-fp32"] = (TorchClassifier(args.pruned, max_length), args.pruned, "model.safetensors")
    forms["onnx-fp32"] = (OnnxClassifier(args.onnx, "model.onnx", max_length), args.onnx, "model.onnx")
    forms["onnx-int8"] = (OnnxClassifier(args.quantized, "model_quantized.onnx", max_length), args.quantized,
                          "model_quantized.onnx")
    shipped_params = count_parameters(load_torch_model(args.source))["params"]
    results, confusion, per_text = {}, {}, {}
    for form, (classifier, model_dir, model_file) in forms.items():
        predictions = predict(classifier, splits["test"]["text"].tolist(), batch_size)
        per_text[form] = predictions
        scores = classification_metrics(splits["test"]["label"].to_numpy(), predictions, labels)
        confusion[form] = scores.pop("confusion_matrix")
        if form == "onnx-int8":  # its latency is quoted at batch 1: its accuracy is, too
            scores |= at_batch_one(classifier, splits["test"], labels, predictions)
        torch_model = getattr(classifier, "model", None)  # None for the ONNX forms
        results[form] = {**scores, "path": str(model_dir), "model_file": model_file,
                         "size_bytes": deployed_bytes(model_dir, model_file),
                         "params": count_parameters(torch_model)["params"] if torch_model is not None
                         else shipped_params}
        log.info("%s %s: accuracy %.4f, macro-F1 %.4f, %.1f MB%s", args.student, form, scores["accuracy"],
                 scores["macro_f1"], results[form]["size_bytes"] / 1e6,
                 f"; at batch 1 accuracy {scores['accuracy_batch1']:.4f}, {scores['flips_vs_batched']} predictions "
                 f"differ from batch {batch_size}" if "flips_vs_batched" in scores else "")
    reports = {path.stem: json.loads(path.read_text()) for path in sorted(Path(args.quantized).glob("*.json"))
               if path.stem in SIDE_REPORTS}
    with atomic_file(args.predictions_out) as tmp:
        pd.DataFrame(per_text).to_csv(tmp, index=False)
    write_json(args.out, {"student": args.student, "recipe": recipe, **reports, "evaluated_on": describe_cpu(),
                          "forms": results,
                          "confusion": {"labels": labels, "rows": "true label", "columns": "predicted label",
                                        "forms": confusion}})


if __name__ == "__main__":
    run_stage(main)
