"""Evaluate any classifier form on a split, and measure what would be deployed: bytes on disk, parameters."""

from pathlib import Path

import numpy as np
import pandas as pd

from textslim.inference import TextClassifier, batched_logits
from textslim.metrics import classification_metrics

# What a deployment ships beside the weights or graph: the tokenizer and the config (not our report files).
SUPPORT_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
                 "merges.txt", "sentencepiece.bpe.model", "added_tokens.json")


def evaluate_classifier(classifier: TextClassifier, frame: pd.DataFrame, labels: list[str], batch_size: int) -> dict:
    """Classification metrics of a classifier on a prepared split."""
    return classification_metrics(frame["label"].to_numpy(), predict(classifier, frame["text"].tolist(), batch_size),
                                  labels)


def predict(classifier: TextClassifier, texts: list[str], batch_size: int) -> np.ndarray:
    """The predicted class id of every text, batch_size texts per call."""
    return batched_logits(classifier, texts, batch_size).argmax(-1)


def at_batch_one(classifier: TextClassifier, test: pd.DataFrame, labels: list[str], batched: np.ndarray) -> dict:
    """Accuracy and macro-F1 with one text per call, and how many predictions differ from the batched ones.

    Dynamic INT8 computes each activation's scale from the whole call's input, so a text's prediction depends on the
    texts batched with it. Latency is quoted at batch 1 (and a server may answer one text at a time), so accuracy is
    given at batch 1 too.
    """
    alone = predict(classifier, test["text"].tolist(), batch_size=1)
    scores = classification_metrics(test["label"].to_numpy(), alone, labels)
    return {"accuracy_batch1": scores["accuracy"], "macro_f1_batch1": scores["macro_f1"],
            "flips_vs_batched": int((alone != batched).sum())}


def deployed_bytes(model_dir: str | Path, model_file: str) -> int:
    """Bytes on disk of what a deployment ships: the model file (and ONNX external data) plus tokenizer/config."""
    model_dir = Path(model_dir)
    files = [model_dir / model_file, model_dir / (model_file + "_data")]
    files += [model_dir / name for name in SUPPORT_FILES]
    return sum(f.stat().st_size for f in files if f.is_file())


def count_parameters(model) -> dict:
    """Total parameters and how many of them are exactly zero."""
    total = sum(p.numel() for p in model.parameters())
    zeros = sum(int((p == 0).sum()) for p in model.parameters())
    return {"params": total, "zero_params": zeros}


def model_size(model_dir: str | Path) -> dict:
    """Parameter count and deployable size of a saved transformers model directory."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    return {**count_parameters(model), "size_bytes": deployed_bytes(model_dir, "model.safetensors")}
