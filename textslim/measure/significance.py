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


def disagreement(labels: np.ndarray, reference: np.ndarray, variant: np.ndarray) -> float:
    """The share of texts on which exactly one of the two models is right: what a paired interval's width rests on."""
    return float(((np.asarray(variant) == labels) != (np.asarray(reference) == labels)).mean())


def half_width_points(share_differing: float, delta: float, texts: int) -> float:
    """The normal approximation of a paired 95% interval's half-width, in points: each text scores -1, 0 or +1,
    whose variance is share_differing - delta²."""
    return 100 * 1.96 * np.sqrt(max(share_differing - delta ** 2, 0.0) / texts)


def texts_needed(share_differing: float, delta: float, half_width: float) -> int:
    """How many test texts would give a paired 95% interval of ±half_width points at this disagreement."""
    return int(np.ceil((1.96 * 100 / half_width) ** 2 * max(share_differing - delta ** 2, 0.0)))


def _predictions(row: dict, predictions_dir: Path) -> np.ndarray:
    path = predictions_dir / f"{row['student'] or 'teacher'}.csv"
    if not path.is_file():
        raise TextslimError(f"compare: {path} is missing: the evaluate stage writes it (dvc repro)")
    return pd.read_csv(path)[row["form"]].to_numpy()


# The references every variant is judged against: the teacher, and the one-line alternative every user tries first
# (the teacher exported and quantized the same way). Keys: delta_accuracy{suffix}_ci95_low/high, disagreement{suffix}.
REFERENCES = (("teacher", ""), ("teacher-int8", "_vs_teacher_int8"))


def with_accuracy_intervals(rows: list[dict], labels: np.ndarray, teacher_predictions: np.ndarray,
                            predictions_dir: Path) -> list[dict]:
    """Each variant row with the interval of its accuracy difference to the teacher (PyTorch fp32) and to
    teacher-int8 (where that row exists), as fractions, and the share of texts each pair disagrees on.

    The teacher's predictions are given; every other form's come from the CSV its evaluate stage wrote
    (<student>.csv, teacher.csv for the teacher's own ONNX forms). The TF-IDF baseline has none and gets none. Every
    interval uses the same bootstrap seed, so both references are judged on the same resampled texts.
    """
    by_name = {row["name"]: row for row in rows}
    references = {"teacher": teacher_predictions}
    if "teacher-int8" in by_name:
        references["teacher-int8"] = _predictions(by_name["teacher-int8"], predictions_dir)
    out = []
    for row in rows:
        if row["runtime"] == "sklearn":
            out.append(row)
            continue
        predictions = teacher_predictions if row["name"] == "teacher" else _predictions(row, predictions_dir)
        figures = dict(row)
        for name, suffix in REFERENCES:
            if name in references:
                reference = references[name]
                low, high = accuracy_difference_interval(labels, reference, predictions)
                figures.update({f"delta_accuracy{suffix}_ci95_low": round(low, 6),
                                f"delta_accuracy{suffix}_ci95_high": round(high, 6),
                                f"disagreement{suffix}": round(disagreement(labels, reference, predictions), 6)})
        out.append(figures)
    return out
