"""Unlabelled transfer texts: the user's files and the built-in corpora, kept apart from the labelled splits and
capped; the teacher labels them once, in order, resumably; the label_unlabelled stage writes them and its report."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.stages import run_stage_script
from tests.tiny import sentences
from textslim.corpora import describe, gather, read_texts, report_lines
from textslim.data_params import DataParams
from textslim.errors import TextslimError
from textslim.sources import clean, load_source, split
from textslim.train.labelling import labelling_key, resumable_logits
from textslim.train.transfer import unlabelled_texts

SPLITS = {"train": pd.DataFrame({"text": ["t1", "t2"]}), "validation": pd.DataFrame({"text": ["v1"]}),
          "test": pd.DataFrame({"text": ["x1", "x2"]})}


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet", ".txt"])
def test_each_file_type_gives_its_texts_in_order(tmp_path, suffix):
    texts = ["first text", "second, with a comma", "third"]
    path = tmp_path / f"u{suffix}"
    frame = pd.DataFrame({"id": [1, 2, 3], "body": texts})
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif suffix == ".parquet":
        frame.to_parquet(path)
    else:
        path.write_text("\r\n".join(texts) + "\r\n")
    got = read_texts(str(path), "body", "data.unlabelled[0]")
    assert [t for t in got if t] == texts


BAD_FILES = {"e.csv": "", "n.csv": "review\nfine\n", "x.xml": "<a/>"}  # written for the cases below


@pytest.mark.parametrize("name, fragment", [
    ("missing.csv", "data.unlabelled[1]: file not found"),
    ("e.csv", "data.unlabelled[1]: file is empty"),
    ("n.csv", "data.unlabelled[1]: no column 'body' (data.text_column) in"),
    ("x.xml", "data.unlabelled[1]: "),
    ("builtin:wikipedia", "unknown built-in 'builtin:wikipedia'; built-in corpora: builtin:movie-dialogue"),
])
def test_bad_input_is_one_line_naming_the_entry(tmp_path, name, fragment):
    for file, content in BAD_FILES.items():
        (tmp_path / file).write_text(content)
    reference = name if name.startswith("builtin:") else str(tmp_path / name)
    with pytest.raises(TextslimError) as err:
        read_texts(reference, "body", "data.unlabelled[1]")
    assert fragment in str(err.value) and "\n" not in str(err.value)
    if name == "x.xml":
        assert "has an unsupported type; use .txt or one of .csv" in str(err.value)


def test_what_the_labelled_splits_hold_is_dropped_and_counted(tmp_path):
    path = tmp_path / "u.txt"
    path.write_text("new one\n\nx1\nt2\nnew  one\nnew two\nv1\n")
    texts, report = gather([str(path)], "text", SPLITS, cap=None, seed=0)
    assert texts == ["new one", "new two"]
    assert report["sources"] == [{"source": str(path), "read": 8, "empty": 2, "duplicate": 1,
                                  "in_validation_or_test": 2, "in_train": 1, "kept": 2}]
    assert "2 in validation/test" in describe(report)


def test_a_test_text_spaced_otherwise_is_still_recognised(tmp_path):
    splits = {**SPLITS, "test": pd.DataFrame({"text": ["a  review\twith  runs"]})}  # kept so by the labelled source
    path = tmp_path / "u.txt"
    path.write_text("a review with runs\nsomething new\n")
    texts, report = gather([str(path)], "text", splits, cap=None, seed=0)
    assert texts == ["something new"] and report["sources"][0]["in_validation_or_test"] == 1


def test_the_drift_checks_texts_are_held_out_like_the_test_split(tmp_path):
    path = tmp_path / "u.txt"
    path.write_text("a scored tweet\nsomething new\n")
    texts, report = gather([str(path)], "text", {**SPLITS, "drift": pd.DataFrame({"text": ["a scored tweet"]})},
                           cap=None, seed=0)
    assert texts == ["something new"] and report["sources"][0]["in_validation_or_test"] == 1


def test_a_later_entry_and_the_few_shot_texts_are_not_counted_twice(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("one\ntwo\n")
    b.write_text("two\nthree\nfour\n")
    texts, report = gather([str(a), str(b)], "text", SPLITS, cap=None, seed=0, already=["four"])
    assert texts == ["one", "two", "three"]
    assert [s["duplicate"] for s in report["sources"]] == [0, 2]


def test_naming_the_labelled_source_teaches_what_the_train_limit_left_out(tmp_path):
    """data.unlabelled: [data.source]: the splits' texts are dropped, so the rows data.max_train_samples left out
    remain, each once, their labels unused."""
    path = tmp_path / "labelled.csv"
    pd.DataFrame({"text": [f"review number {i}" for i in range(60)], "label": ["good", "bad"] * 30}).to_csv(path)
    data = DataParams(source=str(path), max_train_samples=10, validation_fraction=0.2, test_fraction=0.2)
    splits = split(clean(load_source(data)), data, seed=0)
    texts, report = gather([str(path)], "text", splits, cap=None, seed=0)
    in_splits = {t for part in splits.values() for t in part["text"]}
    assert len(splits["train"]) == 10 and len(texts) == 60 - 10 - 12 - 12
    assert set(texts) == {f"review number {i}" for i in range(60)} - in_splits
    assert (report["sources"][0]["in_train"], report["sources"][0]["in_validation_or_test"]) == (10, 24)


def test_a_labelled_built_in_gives_its_texts_without_labels():
    texts = read_texts("builtin:trec-6", "text", "data.unlabelled[0]")
    assert texts == load_source(DataParams(source="builtin:trec-6"))["text"].tolist() and len(texts) > 5000
    with pytest.raises(TextslimError, match=r"labelled built-ins \(their texts\): builtin:rotten-tomatoes"):
        read_texts("builtin:imdb", "text", "data.unlabelled[0]")


def test_the_cap_is_a_seeded_draw_in_the_original_order(tmp_path):
    path = tmp_path / "u.txt"
    path.write_text("\n".join(f"text {i}" for i in range(100)))
    texts, report = gather([str(path)], "text", SPLITS, cap=10, seed=3)
    again, _ = gather([str(path)], "text", SPLITS, cap=10, seed=3)
    other, _ = gather([str(path)], "text", SPLITS, cap=10, seed=4)
    assert texts == again != other and len(texts) == 10 and texts == sorted(texts, key=lambda t: int(t.split()[1]))
    assert (report["before_cap"], report["kept"]) == (100, 10)
    assert "data.unlabelled_max: 10 of 100 drawn" in describe(report)


def test_a_file_that_is_all_test_texts_is_refused(tmp_path):
    path = tmp_path / "leak.txt"
    path.write_text("x1\nx2\nv1\n")
    with pytest.raises(TextslimError, match=r"data.unlabelled\[0\]: every text of .* is already in the labelled "
                                            r"splits \(3 in validation or test, 0 in train\)"):
        gather([str(path)], "text", SPLITS, cap=None, seed=0)


def test_a_file_of_blank_lines_is_refused(tmp_path):
    path = tmp_path / "blank.txt"
    path.write_text("\n \n\n")
    with pytest.raises(TextslimError, match="holds no text"):
        gather([str(path)], "text", SPLITS, cap=None, seed=0)


@pytest.mark.parametrize("name, read, unique_at_least", [
    ("movie-dialogue", 128_700, 110_000), ("news-sentences", 90_000, 85_000), ("rotten-tomatoes-plots", 1_097, 1_080)])
def test_the_built_in_corpora_are_read_from_their_wheels(name, read, unique_at_least):
    texts = read_texts(f"builtin:{name}", "text", "data.unlabelled[0]")
    assert len(texts) >= read if name == "news-sentences" else len(texts) == read
    assert len({" ".join(t.split()) for t in texts}) >= unique_at_least


class _Counting:
    """A classifier whose logits are a function of the text, counting the texts it scores; fails after `fail_after`."""

    def __init__(self, fail_after=None):
        self.scored, self.fail_after = 0, fail_after

    def logits(self, texts):
        if self.fail_after is not None and self.scored >= self.fail_after:
            raise KeyboardInterrupt
        self.scored += len(texts)
        return np.array([[len(t), -len(t)] for t in texts], dtype=np.float32)


def test_labelling_keeps_the_order_and_resumes_at_the_last_saved_chunk(tmp_path):
    texts = [f"{'x' * (i % 17)} text {i}" for i in range(50)]
    expected = np.array([[len(t), -len(t)] for t in texts], dtype=np.float32)
    with pytest.raises(KeyboardInterrupt):
        resumable_logits(_Counting(fail_after=20), texts, tmp_path / "resume", batch_size=4, chunk=10)
    assert len(list((tmp_path / "resume").glob("chunk-*.npy"))) == 2  # two chunks finished before the stop
    again = _Counting()
    np.testing.assert_array_equal(resumable_logits(again, texts, tmp_path / "resume", batch_size=4, chunk=10),
                                  expected)
    assert again.scored == 30  # the two saved chunks were not scored again


def test_the_resume_key_changes_with_the_teacher_and_the_texts(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    key = labelling_key(tmp_path, ["a", "b"], 64)
    assert key == labelling_key(tmp_path, ["a", "b"], 64)
    assert key != labelling_key(tmp_path, ["a", "b", "c"], 64) != labelling_key(tmp_path, ["a", "b"], 32)
    (tmp_path / "model.safetensors").write_bytes(b"other weights")
    assert key != labelling_key(tmp_path, ["a", "b"], 64)


def _label(tmp_path, teacher):
    return run_stage_script("label_unlabelled", "--params", str(tmp_path / "params.yaml"), "--data",
                            str(tmp_path / "data"), "--drift", str(tmp_path / "drift"), "--teacher", str(teacher),
                            "--out", str(tmp_path / "u"), "--report-out", str(tmp_path / "u.json"))


def _prepared(tmp_path, tiny_csv, unlabelled):
    params = {"data": {"source": str(tiny_csv), "unlabelled": unlabelled, "unlabelled_max": None},
              "teacher": {"max_length": 24}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    done = run_stage_script("prepare_data", "--params", str(tmp_path / "params.yaml"), "--out", str(tmp_path / "data"),
                            "--report-out", str(tmp_path / "data.json"))
    assert done.returncode == 0, done.stderr
    done = run_stage_script("prepare_drift", "--params", str(tmp_path / "params.yaml"), "--data",
                            str(tmp_path / "data"), "--out", str(tmp_path / "drift"), "--report-out",
                            str(tmp_path / "drift.json"))
    assert done.returncode == 0, done.stderr  # no pairing for a CSV: an empty set


def test_the_stage_labels_the_users_texts_with_the_teacher(tmp_path, tiny_csv, tiny_teacher, monkeypatch):
    monkeypatch.setenv("TEXTSLIM_CACHE", str(tmp_path / "cache"))
    test_texts = pd.read_csv(tiny_csv)["text"]
    own = tmp_path / "own.txt"
    _prepared(tmp_path, tiny_csv, [str(own)])
    test = pd.read_parquet(tmp_path / "data" / "test.parquet")["text"].tolist()
    fresh = sentences(30, seed=9)["text"].tolist()
    fresh = [t for t in dict.fromkeys(fresh) if t not in set(test_texts)]
    own.write_text("\n".join(fresh + test[:3]) + "\n")
    done = _label(tmp_path, tiny_teacher)
    assert done.returncode == 0, done.stderr
    texts, logits = unlabelled_texts(tmp_path / "u")
    assert texts == fresh  # the test split's three are not there
    from textslim.inference import TorchClassifier

    np.testing.assert_allclose(logits, TorchClassifier(tiny_teacher, 24).logits(texts), atol=1e-5)
    report = json.loads((tmp_path / "u.json").read_text())
    assert report["sources"][0]["in_validation_or_test"] == 3 and report["texts"] == len(fresh)
    assert not list((tmp_path / "cache" / "labelling").glob("*"))  # the resume chunks are gone once it is done


def test_the_stage_refuses_a_missing_file_and_writes_nothing(tmp_path, tiny_csv, tiny_teacher):
    _prepared(tmp_path, tiny_csv, [str(tmp_path / "nowhere.csv")])
    done = _label(tmp_path, tiny_teacher)
    assert done.returncode == 2 and done.stderr.strip().startswith("error: data.unlabelled[0]: file not found")
    assert not (tmp_path / "u").exists() and not (tmp_path / "u.json").exists()


def test_the_summary_says_how_many_texts_the_teacher_labelled_and_from_where():
    report = {"few_shot_unlabelled": 0, "texts": 2, "kept": 2, "before_cap": 2, "labelling_seconds": 12.3,
              "sources": [{"source": "own.txt", "read": 5, "empty": 1, "duplicate": 0, "in_validation_or_test": 2,
                           "in_train": 0, "kept": 2}]}
    lines = report_lines(report)
    assert lines[0] == ("Unlabelled transfer texts, labelled by the teacher in 12 s: 2 (0 few-shot training texts, "
                        "2 from `data.unlabelled`).")
    assert "- own.txt: 5 read, 2 kept (dropped: 1 empty, 0 duplicates, 2 in validation/test, 0 in train)" in lines
    assert report_lines({**report, "texts": 0, "sources": []}) == []
