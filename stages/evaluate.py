"""Stage evaluate@S: test-split metrics, size and parameters of every form of student S."""

import argparse
import json
import logging
from pathlib import Path

from transformers import AutoModelForSequenceClassification

from textslim.atomic import write_json
from textslim.cli import run_stage
from textslim.data import read_prepared
from textslim.evaluation import count_parameters, deployed_bytes, evaluate_classifier, student_description
from textslim.inference import OnnxClassifier, TorchClassifier
from textslim.params import load_params

log = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--student", required=True)
    parser.add_argument("--data", default="data/prepared")
    parser.add_argument("--distilled", required=True)
    parser.add_argument("--pruned", required=True)
    parser.add_argument("--onnx", required=True)
    parser.add_argument("--quantized", required=True)
    parser.add_argument("--out", required=True, help="metrics JSON (scalars, for dvc metrics)")
    parser.add_argument("--confusion-out", required=True, help="confusion matrices per form")
    args = parser.parse_args()

    params = load_params(args.params)
    splits, labels = read_prepared(args.data)
    recipe = student_description(args.distilled)
    max_length, batch_size = recipe["max_length"], params.evaluate.batch_size
    pruned_model = AutoModelForSequenceClassification.from_pretrained(args.pruned)
    counts = count_parameters(pruned_model)
    forms = {
        "distilled-fp32": (TorchClassifier(args.distilled, max_length), args.distilled, "model.safetensors"),
        "pruned-fp32": (TorchClassifier(args.pruned, max_length, model=pruned_model), args.pruned,
                        "model.safetensors"),
        "onnx-fp32": (OnnxClassifier(args.onnx, "model.onnx", max_length), args.onnx, "model.onnx"),
        "onnx-int8": (OnnxClassifier(args.quantized, "model_quantized.onnx", max_length), args.quantized,
                      "model_quantized.onnx"),
    }
    results, confusion = {}, {}
    for form, (classifier, model_dir, model_file) in forms.items():
        scores = evaluate_classifier(classifier, splits["test"], labels, batch_size)
        confusion[form] = scores.pop("confusion_matrix")
        results[form] = {**scores, "path": str(model_dir), "model_file": model_file,
                         "size_bytes": deployed_bytes(model_dir, model_file),
                         "params": count_parameters(classifier.model)["params"] if form == "distilled-fp32"
                         else counts["params"]}
        log.info("%s %s: accuracy %.4f, macro-F1 %.4f, %.1f MB", args.student, form, scores["accuracy"],
                 scores["macro_f1"], results[form]["size_bytes"] / 1e6)
    reports = {name: json.loads((Path(args.quantized) / f"{name}.json").read_text())
               for name in ("sparsity", "parity", "quantize")}
    write_json(args.out, {"student": args.student, "recipe": recipe, **reports, "forms": results})
    write_json(args.confusion_out, {"labels": labels, "rows": "true label", "columns": "predicted label",
                                    "forms": confusion})


if __name__ == "__main__":
    run_stage(main)
