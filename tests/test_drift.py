"""The drift check's texts: the pairing for the default data, labels mapped onto the data's, the labelled splits left
out, a stratified draw; bad maps are one line; the report flags a form that falls apart off the domain."""

import pandas as pd
import pytest

from textslim.data_params import DriftParams
from textslim.drift import drift_lines, drift_texts, resolve
from textslim.errors import TextslimError

LABELS = ["neg", "pos"]
SPLITS = {"train": pd.DataFrame({"text": ["seen in train"]}), "validation": pd.DataFrame({"text": ["seen in val"]}),
          "test": pd.DataFrame({"text": ["seen in test"]})}


def test_auto_pairs_the_movie_reviews_with_tweets_and_nothing_else():
    assert resolve(DriftParams(), "builtin:rotten-tomatoes") == (
        "builtin:tweets-sentiment", {"positive": "fresh", "negative": "rotten"})
    assert resolve(DriftParams(), "reviews.csv") is None
    assert resolve(DriftParams(source=None), "builtin:rotten-tomatoes") is None
    assert resolve(DriftParams(source="x.csv", label_map={"a": "b"}), "anything") == ("x.csv", {"a": "b"})


@pytest.fixture
def other_domain(tmp_path):
    rows = [(f"great text {i}", "good") for i in range(30)] + [(f"awful text {i}", "bad") for i in range(10)]
    rows += [(f"so-so text {i}", "meh") for i in range(5)] + [("seen in test", "good"), ("seen in train", "bad")]
    path = tmp_path / "other.csv"
    pd.DataFrame(rows, columns=["body", "sentiment"]).to_csv(path, index=False)
    return path


def _cfg(path, **changes):
    return DriftParams(**{"source": str(path), "label_map": {"good": "pos", "bad": "neg"}, "text_column": "body",
                          "label_column": "sentiment", **changes})


def test_labels_are_mapped_the_unmapped_and_the_labelled_splits_left_out(other_domain):
    texts, report = drift_texts(_cfg(other_domain), "reviews.csv", LABELS, SPLITS, seed=0)
    assert len(texts) == 40 and not set(texts["text"]) & {"seen in test", "seen in train"}
    assert not any(t.startswith("so-so") for t in texts["text"])
    assert (texts.loc[texts["text"].str.startswith("great"), "label"] == 1).all()  # pos is id 1
    assert report["class_counts"] == {"neg": 10, "pos": 30} and report["in_labelled_splits"] == 2


def test_the_draw_is_stratified_and_seeded(other_domain):
    texts, report = drift_texts(_cfg(other_domain, max_texts=20), "reviews.csv", LABELS, SPLITS, seed=1)
    again, _ = drift_texts(_cfg(other_domain, max_texts=20), "reviews.csv", LABELS, SPLITS, seed=1)
    assert texts.equals(again) and report["class_counts"] == {"neg": 5, "pos": 15}


@pytest.mark.parametrize("label_map, fragment", [
    ({"good": "positive"}, "drift.label_map: maps onto ['positive'], which are not labels of the data (neg, pos)"),
    ({"great": "pos"}, "drift.label_map: "),
])
def test_a_map_that_does_not_fit_is_one_line(other_domain, label_map, fragment):
    with pytest.raises(TextslimError) as err:
        drift_texts(_cfg(other_domain, label_map=label_map), "reviews.csv", LABELS, SPLITS, seed=0)
    assert str(err.value).startswith(fragment) and "\n" not in str(err.value)


def test_no_check_is_an_empty_set():
    texts, report = drift_texts(DriftParams(), "reviews.csv", LABELS, SPLITS, seed=0)
    assert texts.empty and report == {"source": None}


def test_the_default_check_is_3000_tweets_mapped_onto_fresh_and_rotten():
    texts, report = drift_texts(DriftParams(), "builtin:rotten-tomatoes", ["fresh", "rotten"], SPLITS, seed=42)
    assert report["source"] == "builtin:tweets-sentiment" and len(texts) == report["texts"]
    assert abs(len(texts) - 3000) <= 2  # a stratified draw rounds each class
    # 6,811 positive and 15,955 negative tweets: the draw keeps that share
    assert report["class_counts"]["fresh"] / len(texts) == pytest.approx(6811 / (6811 + 15955), abs=0.01)


def _row(name, accuracy, drift):
    return {"name": name, "accuracy": accuracy, "drift_accuracy": drift}


def test_the_report_flags_a_form_whose_gap_grows_off_the_domain():
    rows = [_row("teacher", 0.84, 0.75), _row("spread-int8", 0.81, 0.63), _row("setfit-int8", 0.83, 0.756),
            {"name": "tfidf-logreg", "accuracy": 0.78}]
    report = {"source": "builtin:tweets-sentiment", "label_map": {"positive": "fresh"}, "texts": 3000,
              "class_counts": {"fresh": 900, "rotten": 2100}}
    lines = drift_lines(rows, report, 2.0)
    assert lines[0] == "## Off the training domain (drift check)"
    table = "\n".join(lines)
    assert "| spread-int8 ⚠ " in table and "| setfit-int8 " in table and "tfidf" not in table
    assert "Flagged: `spread-int8` (-12.00 off domain against -3.00 in domain)." in lines
    assert drift_lines(rows, {"source": None}, 2.0) == []
    assert "No form loses more than 2 points" in "\n".join(drift_lines(rows[:1] + rows[2:], report, 2.0))
