"""Fixtures shared by the pipeline tests: tiny models and data, built once per session."""

import os
from pathlib import Path

import pytest

from tests.tiny import make_tiny_model, sentences

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
SLOWEST_FILE = "tests/test_pipeline_e2e.py"  # the real `dvc repro`: the longest single file by far


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest file first (a stable sort keeps every file's own order): with `make test`'s two pytest-xdist
    workers it then runs on one worker beside everything else, instead of starting last and running alone."""
    items.sort(key=lambda item: not item.nodeid.startswith(SLOWEST_FILE))


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


@pytest.fixture(scope="session")
def tiny_sentence_body(tmp_path_factory) -> Path:
    """A tiny sentence-transformers model: tiny BERT -> mean pooling -> L2 normalisation, like all-MiniLM-L6-v2."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules

    encoder = make_tiny_model(tmp_path_factory.mktemp("body") / "bert", "bert", layers=2, seed=7)
    transformer = modules.Transformer(str(encoder), max_seq_length=24)
    st = SentenceTransformer(modules=[transformer, modules.Pooling(32, "mean"), modules.Normalize()], device="cpu")
    out = tmp_path_factory.mktemp("body") / "st"
    st.save(str(out))
    return out
