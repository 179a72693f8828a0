"""Stage baseline: the TF-IDF + logistic-regression model on the same split, and its test metrics."""

import argparse
import logging
from pathlib import Path

import joblib

from textslim.atomic import atomic_dir, write_json
from textslim.baseline import train_baseline
from textslim.cli import run_stage
from textslim.data import read_prepared
from textslim.evaluation import evaluate_classifier
from textslim.inference import SklearnClassifier
from textslim.params import load_params

log = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", default="data/prepared")
    parser.add_argument("--out", default="models/baseline")
    parser.add_argument("--metrics-out", default="metrics/baseline.json")
    args = parser.parse_args()

    params = load_params(args.params)
    splits, labels = read_prepared(args.data)
    pipeline = train_baseline(splits["train"], params.baseline, params.seed)
    with atomic_dir(args.out) as tmp:
        joblib.dump(pipeline, tmp / "model.joblib")
        test = evaluate_classifier(SklearnClassifier(tmp / "model.joblib"), splits["test"], labels, batch_size=512)
    features = len(pipeline.named_steps["tfidf"].vocabulary_)
    params_count = features * (1 if len(labels) == 2 else len(labels)) + len(pipeline.named_steps["logreg"].intercept_)
    size = (Path(args.out) / "model.joblib").stat().st_size
    write_json(args.metrics_out, {"params": params_count, "size_bytes": size, "test": test})
    log.info("baseline: test accuracy %.4f, macro-F1 %.4f (%d features)", test["accuracy"], test["macro_f1"],
             features)


if __name__ == "__main__":
    run_stage(main)
