"""Fixtures shared by the pipeline tests: tiny models and data, built once per session."""

import os
from pathlib import Path

import pytest

from tests.tiny import make_tiny_model, sentences

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory) -> Path:
    """A 4-layer BERT classifier with random weights, saved with its tokenizer."""
    return make_tiny_model(tmp_path_factory.mktemp("teacher") / "model", "bert", layers=4)


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory) -> Path:
    """A 200-row labelled CSV (text, label)."""
    path = tmp_path_factory.mktemp("data") / "reviews.csv"
    sentences(200).to_csv(path, index=False)
    return path
