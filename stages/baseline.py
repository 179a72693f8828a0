"""Stage baseline: the TF-IDF + logistic-regression model, tuned on the validation split, and its test metrics."""

import argparse
import logging
from pathlib import Path

import joblib

from textslim.atomic import atomic_dir, write_json
from textslim.cli import run_stage
from textslim.data import read_prepared
from textslim.inference import SklearnClassifier
from textslim.measure.baseline import SELECTION_METRIC, count_parameters, tune_baseline
from textslim.measure.evaluation import evaluate_classifier
from textslim.params import load_params

log = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--metrics-out", required=True)
    args = parser.parse_args()

    params = load_params(args.params)
    splits, labels = read_prepared(args.data)
    search = tune_baseline(splits["train"], splits["validation"], params.baseline, params.seed)
    with atomic_dir(args.out) as tmp:
        joblib.dump(search.pipeline, tmp / "model.joblib")
        test = evaluate_classifier(SklearnClassifier(tmp / "model.joblib"), splits["test"], labels, batch_size=512)
    size = (Path(args.out) / "model.joblib").stat().st_size
    write_json(args.metrics_out, {
        "params": count_parameters(search.pipeline), "size_bytes": size,
        "chosen": search.chosen, "selected_by": f"validation {SELECTION_METRIC} (fitted on train, no refit)",
        "validation": search.validation, "test": test, "grid": search.grid})
    log.info("baseline %s: test accuracy %.4f, macro-F1 %.4f", search.chosen, test["accuracy"], test["macro_f1"])


if __name__ == "__main__":
    run_stage(main)
