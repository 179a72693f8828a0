"""Stage prepare_drift: the drift check's texts (params `drift`), labelled texts from another domain than the training
data, mapped onto the data's labels; every evaluate stage scores its forms on them. No check: an empty set."""

import argparse
import logging

from textslim.atomic import atomic_dir, write_json
from textslim.cli import run_stage
from textslim.data import read_prepared
from textslim.drift import drift_texts
from textslim.params import load_params

log = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--report-out", required=True)
    args = parser.parse_args()

    params = load_params(args.params)
    splits, labels = read_prepared(args.data)
    texts, report = drift_texts(params.drift, params.data.source, labels, splits, params.seed)
    with atomic_dir(args.out) as tmp:
        texts.to_parquet(tmp / "texts.parquet", index=False)
        write_json(args.report_out, report)  # inside the block: a failure here leaves the old set in place
    if report["source"] is None:
        log.info("drift check: none (drift.source %s, data.source %s)", params.drift.source, params.data.source)
    else:
        log.info("drift check: %d texts of %s (%s)", report["texts"], report["source"], report["class_counts"])


if __name__ == "__main__":
    run_stage(main)
