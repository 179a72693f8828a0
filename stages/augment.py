"""Stage augment: the augmented transfer set (training texts with words swapped for GloVe neighbours), labelled once
by the teacher's logits for every student. augment.size 0 writes an empty set."""

import argparse
import logging

import numpy as np
import pandas as pd

from textslim.atomic import atomic_dir
from textslim.cli import run_stage
from textslim.data import read_prepared
from textslim.inference import TorchClassifier, batched_logits
from textslim.params import load_params
from textslim.train.augment import augment_texts

log = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", required=True)
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    params = load_params(args.params)
    splits, labels = read_prepared(args.data)
    texts, rows = [], []
    logits = np.zeros((0, len(labels)), dtype=np.float32)
    if params.augment.size or params.augment.copies:
        from textslim.students.lstm import load_glove  # the GloVe asset the BiLSTM's embeddings come from

        texts, rows = augment_texts(splits["train"]["text"].tolist(), params.augment, params.distill.seed,
                                    load_glove())
        teacher = TorchClassifier(args.teacher, params.teacher.max_length)
        logits = batched_logits(teacher, texts, batch_size=128).astype(np.float32)
        agree = float((logits.argmax(-1) == splits["train"]["label"].to_numpy()[rows]).mean())
        log.info("augmented %d texts; the teacher keeps the source text's label on %.1f%% of them", len(texts),
                 100 * agree)
    with atomic_dir(args.out) as tmp:
        pd.DataFrame({"text": texts, "source_row": rows}, dtype=object).astype(
            {"text": str, "source_row": "int64"}).to_parquet(tmp / "texts.parquet", index=False)
        np.save(tmp / "teacher_logits.npy", logits)


if __name__ == "__main__":
    run_stage(main)
