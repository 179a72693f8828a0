"""Stages evaluate@S-V, evaluate_distilled@S and evaluate_teacher: test-split metrics, size and parameters of every
form given (a chain's ONNX forms, a distilled student, the teacher's forms), each form's accuracy and macro-F1 on the
validation split (what the select stage picks by: never the test split), and its accuracy on the drift check's texts
(another domain) when there is one."""

import argparse
import json
import logging
from pathlib import Path

import pandas as pd

from textslim.atomic import atomic_file, write_json
from textslim.cli import run_stage
from textslim.cpu import describe_cpu
from textslim.data import read_prepared
from textslim.errors import TextslimError
from textslim.forms import DISTILLED, ONNX_FP32, ONNX_INT8, PRUNED, SIDE_REPORTS, read_student_record
from textslim.inference import TorchClassifier, load, load_torch_model
from textslim.measure.evaluation import at_batch_one, count_parameters, deployed_bytes, evaluate_classifier, predict
from textslim.metrics import classification_metrics
from textslim.params import load_params

log = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--student", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--distilled", help="the distilled PyTorch model, scored as a form")
    parser.add_argument("--pruned", help="the pruned PyTorch model, scored as a form")
    parser.add_argument("--source", help="the PyTorch model the ONNX forms were exported from (with them)")
    parser.add_argument("--onnx")
    parser.add_argument("--quantized")
    parser.add_argument("--drift", required=True, help="the prepare_drift stage's texts (empty: no drift check)")
    parser.add_argument("--out", required=True, help="metrics JSON (scalars for dvc metrics; confusion matrices)")
    parser.add_argument("--predictions-out", required=True,
                        help="CSV of every form's predicted class id per test text, in the split's order (the "
                             "compare stage's paired intervals read it)")
    args = parser.parse_args()

    params = load_params(args.params)
    if bool(args.source) != bool(args.onnx or args.quantized):
        raise TextslimError("--source names the PyTorch model the ONNX forms (--onnx, --quantized) came from: give "
                            "it with them, and only with them")
    folders = {DISTILLED: args.distilled, PRUNED: args.pruned, ONNX_FP32: args.onnx, ONNX_INT8: args.quantized}
    forms = {form: folder for form, folder in folders.items() if folder}  # the teacher has no distilled or pruned
    if not forms:
        raise TextslimError("nothing to evaluate: give --distilled, --pruned, --onnx or --quantized")
    splits, labels = read_prepared(args.data)
    recipe = read_student_record(next(iter(forms.values())))  # travels with the model from the distill stage on
    max_length, batch_size = recipe["max_length"], params.evaluate.batch_size
    # The PyTorch forms count parameters from the module; the ONNX forms ship their source's parameters.
    source = load_torch_model(args.source) if args.source else None
    shipped_params = count_parameters(source)["params"] if source is not None else None
    drift = pd.read_parquet(Path(args.drift) / "texts.parquet")

    def off_domain(classifier) -> dict:
        """Accuracy on the drift texts (an empty dict without a drift check). No macro-F1: a class the label map
        leaves out has no text there and would count as an F1 of 0."""
        if drift.empty:
            return {}
        predictions = predict(classifier, drift["text"].tolist(), batch_size)
        return {"drift": {"accuracy": round(float((predictions == drift["label"].to_numpy()).mean()), 6),
                          "texts": len(drift)}}

    def validation_scores(classifier) -> dict:
        scores = evaluate_classifier(classifier, splits["validation"], labels, batch_size)
        return {key: scores[key] for key in ("accuracy", "macro_f1")}

    results, confusion, per_text = {}, {}, {}
    for form, model_dir in forms.items():
        classifier = load(form, model_dir, max_length)
        predictions = predict(classifier, splits["test"]["text"].tolist(), batch_size)
        per_text[form.name] = predictions
        scores = classification_metrics(splits["test"]["label"].to_numpy(), predictions, labels)
        confusion[form.name] = scores.pop("confusion_matrix")
        if form == ONNX_INT8:  # its latency is quoted at batch 1: its accuracy is, too
            scores |= at_batch_one(classifier, splits["test"], labels, predictions)
        torch_model = getattr(classifier, "model", None)  # None for the ONNX forms
        results[form.name] = {**scores, "size_bytes": deployed_bytes(model_dir, form.file),
                              "validation": validation_scores(classifier),
                              "params": count_parameters(torch_model)["params"] if torch_model is not None
                              else shipped_params, **off_domain(classifier)}
        log.info("%s %s: accuracy %.4f, macro-F1 %.4f, %.1f MB%s", args.student, form.name, scores["accuracy"],
                 scores["macro_f1"], results[form.name]["size_bytes"] / 1e6,
                 f"; at batch 1 accuracy {scores['accuracy_batch1']:.4f}, {scores['flips_vs_batched']} predictions "
                 f"differ from batch {batch_size}" if "flips_vs_batched" in scores else "")
    # Each side report from the folder of the stage that wrote it (the teacher was never pruned: no sparsity).
    folders = {"sparsity": args.pruned or args.source, "parity": args.onnx, "quantize": args.quantized}
    reports = {name: json.loads((Path(folder) / SIDE_REPORTS[name]).read_text()) for name, folder in folders.items()
               if folder and (Path(folder) / SIDE_REPORTS[name]).is_file()}
    with atomic_file(args.predictions_out) as tmp:
        pd.DataFrame(per_text).to_csv(tmp, index=False)
    # The PyTorch model the ONNX forms came from, on validation and off the domain too: for the teacher, the
    # reference of every gap (the select stage's accuracy budget is a drop from the teacher's validation accuracy).
    source_figures = {}
    if source is not None:
        source_classifier = TorchClassifier(args.source, max_length, model=source)
        source_figures["source_validation"] = validation_scores(source_classifier)
        if not drift.empty:
            source_figures["source_drift"] = off_domain(source_classifier)["drift"]
    write_json(args.out, {"student": args.student, "recipe": recipe, **reports, "evaluated_on": describe_cpu(),
                          "forms": results, **source_figures,
                          "confusion": {"labels": labels, "rows": "true label", "columns": "predicted label",
                                        "forms": confusion}})


if __name__ == "__main__":
    run_stage(main)
