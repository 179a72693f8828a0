"""Evaluate any classifier form on a split, and measure what would be deployed: bytes on disk, parameters."""

from pathlib import Path

import pandas as pd

from textslim.inference import TextClassifier, batched_logits
from textslim.metrics import classification_metrics

# What a deployment ships: weights/graph plus tokenizer and config; checkpoints' training state is excluded.
DEPLOYED_SUFFIXES = (".safetensors", ".bin", ".onnx", ".onnx_data", ".json", ".txt", ".model", ".joblib", ".npy")


def evaluate_classifier(classifier: TextClassifier, frame: pd.DataFrame, labels: list[str], batch_size: int) -> dict:
    """Classification metrics of a classifier on a prepared split."""
    logits = batched_logits(classifier, frame["text"].tolist(), batch_size)
    return classification_metrics(frame["label"].to_numpy(), logits.argmax(-1), labels)


def directory_bytes(path: str | Path, only: str | None = None) -> int:
    """Bytes on disk of the deployable files in a model directory (or of one named file in it)."""
    path = Path(path)
    if only is not None:
        return (path / only).stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and f.suffix in DEPLOYED_SUFFIXES)


def count_parameters(model) -> dict:
    """Total parameters and how many of them are exactly zero."""
    total = sum(p.numel() for p in model.parameters())
    zeros = sum(int((p == 0).sum()) for p in model.parameters())
    return {"params": total, "zero_params": zeros}


def model_size(model_dir: str | Path) -> dict:
    """Parameter count and deployable size of a saved transformers model directory."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    return {**count_parameters(model), "size_bytes": directory_bytes(model_dir)}
