"""The transfer set a student learns from: the labelled training rows, then texts without a gold label (the unlabelled
transfer texts of a few-shot run, the augmented copies), each with the teacher's logits. A text without a gold label
takes the teacher's argmax for the hard-label term."""

import logging
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


def transfer_set(train: pd.DataFrame, train_logits: np.ndarray, unlabelled: dict[str, tuple[list[str], np.ndarray]]
                 ) -> tuple[pd.DataFrame, np.ndarray]:
    """(text, label) rows and their teacher logits, row-aligned: `train` first, then each named group of unlabelled
    texts with the teacher's logits for them."""
    frames, logits, counts = [train[["text", "label"]]], [train_logits], [f"{len(train)} training texts"]
    for name, (texts, scores) in unlabelled.items():
        if len(texts):
            frames.append(pd.DataFrame({"text": list(texts), "label": scores.argmax(-1)}))
            logits.append(scores)
            counts.append(f"{len(texts)} {name}")
    if len(frames) == 1:
        return train, train_logits
    log.info("transfer set: %s", " + ".join(counts))
    return pd.concat(frames, ignore_index=True), np.concatenate(logits)


def unlabelled_logits(teacher_logits_dir: str | Path) -> np.ndarray:
    """The teacher's logits for the prepared unlabelled texts (few-shot), in their order."""
    return np.load(Path(teacher_logits_dir) / "unlabelled.npy")


def augmented_texts(augmented_dir: str | Path) -> tuple[list[str], np.ndarray]:
    """The augment stage's texts and the teacher's logits for them."""
    texts = pd.read_parquet(Path(augmented_dir) / "texts.parquet")["text"].tolist()
    return texts, np.load(Path(augmented_dir) / "teacher_logits.npy")
