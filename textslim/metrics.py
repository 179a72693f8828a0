"""Classification metrics, as plain JSON-ready dicts."""

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support


def classification_metrics(labels: np.ndarray, predictions: np.ndarray, names: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix (rows: true)."""
    ids = list(range(len(names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predictions, labels=ids, zero_division=0)
    return {
        "accuracy": round(float(accuracy_score(labels, predictions)), 6),
        "macro_f1": round(float(f1_score(labels, predictions, labels=ids, average="macro", zero_division=0)), 6),
        "per_class": {
            name: {"precision": round(float(p), 6), "recall": round(float(r), 6), "f1": round(float(f), 6),
                   "support": int(s)}
            for name, p, r, f, s in zip(names, precision, recall, f1, support)
        },
        "confusion_matrix": confusion_matrix(labels, predictions, labels=ids).tolist(),
    }


def eval_metrics(eval_pred) -> dict:
    """compute_metrics for the HF Trainer: accuracy and macro-F1 on the validation split."""
    logits, labels = eval_pred
    predictions = np.asarray(logits).argmax(-1)
    return {"accuracy": float(accuracy_score(labels, predictions)),
            "macro_f1": float(f1_score(labels, predictions, average="macro", zero_division=0))}
