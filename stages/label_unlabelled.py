"""Stage label_unlabelled: the unlabelled transfer texts (a few-shot run's unlabelled training texts, then every
`data.unlabelled` source), kept apart from the labelled splits and capped by `data.unlabelled_max`, labelled once by
the teacher's logits for every student. A stage of its own: a new corpus never retrains the teacher, and the
teacher's labelling is cached (and resumes where a stopped run left off)."""

import argparse
import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from textslim.assets import cache_dir
from textslim.atomic import atomic_dir, write_json
from textslim.cli import run_stage
from textslim.corpora import describe, gather
from textslim.data import read_prepared, read_unlabelled
from textslim.inference import TorchClassifier
from textslim.params import load_params
from textslim.train.labelling import labelling_key, resumable_logits
from textslim.train.transfer import UNLABELLED_LOGITS, UNLABELLED_TEXTS

log = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", required=True)
    parser.add_argument("--drift", required=True, help="the drift check's texts: scored, so never taught")
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--report-out", required=True)
    args = parser.parse_args()

    params = load_params(args.params)
    splits, labels = read_prepared(args.data)
    few_shot = read_unlabelled(args.data)  # prepare_data kept these apart from the splits already
    # The drift check's texts are scored like the test split's: a student must not have distilled on them.
    held_out = {**splits, "drift": pd.read_parquet(Path(args.drift) / "texts.parquet")}
    added, report = gather(list(params.data.unlabelled), params.data.text_column, held_out,
                           params.data.unlabelled_max, params.seed, already=few_shot)
    texts = few_shot + added
    report = {"few_shot_unlabelled": len(few_shot), **report, "texts": len(texts)}
    if report["sources"]:
        log.info("data.unlabelled:\n%s", describe(report))
    logits = np.zeros((0, len(labels)), dtype=np.float32)
    resume = None
    if texts:
        started = time.monotonic()
        resume = cache_dir() / "labelling" / labelling_key(args.teacher, texts, params.teacher.max_length)
        teacher = TorchClassifier(args.teacher, params.teacher.max_length)
        logits = resumable_logits(teacher, texts, resume)
        report["labelling_seconds"] = round(time.monotonic() - started, 1)
        log.info("the teacher labelled %d unlabelled texts in %.0f s", len(texts), report["labelling_seconds"])
    with atomic_dir(args.out) as tmp:
        pd.DataFrame({"text": texts}, dtype=str).to_parquet(tmp / UNLABELLED_TEXTS, index=False)
        np.save(tmp / UNLABELLED_LOGITS, logits.astype(np.float32))
        write_json(args.report_out, report)  # inside the block: a failure here leaves the old set in place
    if resume is not None:
        shutil.rmtree(resume, ignore_errors=True)  # done: the chunks are in the output now


if __name__ == "__main__":
    run_stage(main)
