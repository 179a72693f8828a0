"""How sure an accuracy difference is: a paired bootstrap interval on the test split.

Two models scored on the same 1,276 texts differ by a few dozen predictions, so a difference of half a point is six
texts and can be luck. Resampling the texts (the same resample for both models: paired) gives an interval for the
difference that a target such as "at most 1 point below the teacher" can be read against.
"""

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import bootstrap

from textslim.errors import TextslimError

CONFIDENCE = 0.95
RESAMPLES = 5000


def accuracy_difference_interval(labels: np.ndarray, reference: np.ndarray, variant: np.ndarray,
                                 seed: int = 0) -> tuple[float, float]:
    """The 95% interval of accuracy(variant) - accuracy(reference) over the same texts (paired percentile bootstrap).

    Each text contributes 1 (only the variant is right), -1 (only the reference is) or 0; the interval is that of
    their mean. When the two models agree on every text the difference is exact and the interval is one point.
    """
    labels, reference, variant = (np.asarray(a) for a in (labels, reference, variant))
    if not labels.shape == reference.shape == variant.shape or labels.ndim != 1 or not len(labels):
        raise ValueError(f"labels and predictions must be equal-length 1-d arrays, got shapes {labels.shape}, "
                         f"{reference.shape}, {variant.shape}")
    per_text = (variant == labels).astype(float) - (reference == labels).astype(float)
    if np.all(per_text == per_text[0]):
        return float(per_text[0]), float(per_text[0])
    interval = bootstrap((per_text,), np.mean, confidence_level=CONFIDENCE, n_resamples=RESAMPLES,
                         method="percentile", rng=np.random.default_rng(seed)).confidence_interval
    return float(interval.low), float(interval.high)


def with_accuracy_intervals(rows: list[dict], labels: np.ndarray, teacher_predictions: np.ndarray,
                            predictions_dir: Path) -> list[dict]:
    """Each variant row with the interval of its accuracy difference to the teacher (PyTorch fp32), as fractions.

    The teacher's predictions are given; every other form's come from the CSV its evaluate stage wrote
    (<student>.csv, teacher.csv for the teacher's own ONNX forms). The TF-IDF baseline has none and gets none.
    """
    out = []
    for row in rows:
        if row["name"] == "teacher":
            predictions = teacher_predictions
        elif row["runtime"] == "sklearn":
            out.append(row)
            continue
        else:
            path = predictions_dir / f"{row['student'] or 'teacher'}.csv"
            if not path.is_file():
                raise TextslimError(f"compare: {path} is missing: the evaluate stage writes it (dvc repro)")
            predictions = pd.read_csv(path)[row["form"]].to_numpy()
        low, high = accuracy_difference_interval(labels, teacher_predictions, predictions)
        out.append({**row, "delta_accuracy_ci95_low": round(low, 6), "delta_accuracy_ci95_high": round(high, 6)})
    return out
