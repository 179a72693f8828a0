"""The transfer set a student learns from: the labelled training rows, then texts without a gold label (the unlabelled
transfer texts: data.unlabelled and a few-shot run's unlabelled training texts; the augmented copies), each with the
teacher's logits. A text without a gold label has label NO_LABEL: the hard-label term skips it, the soft term does not.
"""

import logging
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

NO_LABEL = -100  # cross-entropy's ignore_index: the hard-label term leaves the row out
UNLABELLED_TEXTS, UNLABELLED_LOGITS = "texts.parquet", "teacher_logits.npy"  # the label_unlabelled stage's folder


def transfer_set(train: pd.DataFrame, train_logits: np.ndarray, unlabelled: dict[str, tuple[list[str], np.ndarray]]
                 ) -> tuple[pd.DataFrame, np.ndarray]:
    """(text, label) rows and their teacher logits, row-aligned: `train` first, then each named group of unlabelled
    texts with the teacher's logits for them."""
    frames, logits, counts = [train[["text", "label"]]], [train_logits], [f"{len(train)} training texts"]
    for name, (texts, scores) in unlabelled.items():
        if len(texts):
            frames.append(pd.DataFrame({"text": list(texts), "label": np.full(len(texts), NO_LABEL)}))
            logits.append(scores)
            counts.append(f"{len(texts)} {name}")
    if len(frames) == 1:
        return train, train_logits
    log.info("transfer set: %s", " + ".join(counts))
    return pd.concat(frames, ignore_index=True), np.concatenate(logits)


def unlabelled_texts(unlabelled_dir: str | Path) -> tuple[list[str], np.ndarray]:
    """The label_unlabelled stage's texts and the teacher's logits for them."""
    folder = Path(unlabelled_dir)
    return pd.read_parquet(folder / UNLABELLED_TEXTS)["text"].tolist(), np.load(folder / UNLABELLED_LOGITS)




def augmented_texts(augmented_dir: str | Path) -> tuple[list[str], np.ndarray]:
    """The augment stage's texts and the teacher's logits for them."""
    texts = pd.read_parquet(Path(augmented_dir) / "texts.parquet")["text"].tolist()
    return texts, np.load(Path(augmented_dir) / "teacher_logits.npy")
