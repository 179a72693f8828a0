"""Reading, cleaning and splitting: stratified, deterministic, and every bad input named in one line."""

import pandas as pd
import pytest

from tests.tiny import sentences
from textslim.data import clean, encode_labels, load_source, split
from textslim.errors import TextslimError
from textslim.params import DataParams


def _params(source, **kw) -> DataParams:
    return DataParams(source=str(source), **kw)


def test_split_is_stratified_and_deterministic():
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(300)], "label": ["a"] * 200 + ["b"] * 100})
    params = DataParams(validation_fraction=0.1, test_fraction=0.2)
    first = split(frame, params, seed=7)
    again = split(frame, params, seed=7)
    other = split(frame, params, seed=8)
    for name in ("train", "validation", "test"):
        assert first[name].equals(again[name])
        shares = first[name]["label"].value_counts(normalize=True)
        assert shares["a"] == pytest.approx(2 / 3, abs=0.02), name
    # sklearn rounds held-out sizes up, so each split may be one example off the exact fraction
    assert abs(len(first["test"]) - 60) <= 1 and abs(len(first["validation"]) - 30) <= 1
    assert not first["test"].equals(other["test"])
    seen = pd.concat(first.values())["text"]
    assert seen.is_unique and len(seen) == 300


def test_clean_drops_empty_and_duplicate_texts():
    frame = pd.DataFrame({"text": ["a", " a ", "", None, "b", "c"], "label": ["x", "x", "y", "y", "y", "x"]})
    cleaned = clean(frame)
    assert cleaned["text"].tolist() == ["a", "b", "c"]


def test_labels_are_encoded_in_sorted_order():
    frame = sentences(40)
    encoded, labels = encode_labels(split(frame, DataParams(), seed=0))
    assert labels == ["neg", "pos"]
    assert set(encoded["train"]["label"]) == {0, 1}


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_reads_file_sources_with_configured_columns(tmp_path, suffix):
    frame = sentences(20).rename(columns={"text": "review", "label": "sentiment"})
    path = tmp_path / f"data{suffix}"
    {".csv": lambda: frame.to_csv(path, index=False),
     ".jsonl": lambda: frame.to_json(path, orient="records", lines=True),
     ".parquet": lambda: frame.to_parquet(path)}[suffix]()
    loaded = load_source(_params(path, text_column="review", label_column="sentiment"))
    assert loaded["text"].tolist() == frame["review"].tolist()


def test_shots_per_class_takes_k_per_class():
    frame = sentences(100)
    parts = split(frame, DataParams(shots_per_class=5), seed=0)
    assert parts["train"]["label"].value_counts().tolist() == [5, 5]


def test_shots_per_class_larger_than_a_class_is_rejected():
    with pytest.raises(TextslimError, match="data.shots_per_class: 500 exceeds"):
        split(sentences(100), DataParams(shots_per_class=500), seed=0)


def test_missing_file(tmp_path):
    with pytest.raises(TextslimError, match="data.source: file not found"):
        load_source(_params(tmp_path / "nope.csv"))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(TextslimError, match="data.source: file is empty"):
        load_source(_params(path))


def test_missing_column(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("body,label\nhello,a\n")
    with pytest.raises(TextslimError, match="data.text_column: no column 'text'.*columns are body, label"):
        load_source(_params(path))


def test_not_utf8(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("text,label\ncaf\xe9 ok,a\n".encode("latin-1"))
    with pytest.raises(TextslimError, match="not valid UTF-8"):
        load_source(_params(path))


def test_one_class_only():
    frame = pd.DataFrame({"text": ["a", "b", "c"], "label": ["x", "x", "x"]})
    with pytest.raises(TextslimError, match="only one class"):
        clean(frame)


def test_split_that_would_leave_a_class_empty():
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(53)], "label": ["a"] * 50 + ["b"] * 3})
    with pytest.raises(TextslimError, match="class 'b' has 3 examples"):
        split(frame, DataParams(), seed=0)


def test_unknown_builtin_lists_the_builtins():
    with pytest.raises(TextslimError, match="builtin:rotten-tomatoes, builtin:bbc-news"):
        load_source(_params("builtin:imdb"))
