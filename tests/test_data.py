"""Reading, cleaning and splitting: stratified, deterministic, and every bad input named in one line."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from tests.tiny import sentences, write_vocab
from textslim.data_report import build_report, class_warnings, data_report_lines, length_stats, token_lengths
from textslim.errors import TextslimError
from textslim.params import DataParams
from textslim.sources import clean, clean_counted, encode_labels, label_order, load_source, split, unlabelled_at


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


# --- blank labels, drop counts and the data report (metrics/data.json) ---

def _labelled_csv(path, labels) -> str:
    rows = sentences(len(labels))
    rows["label"] = labels
    rows.to_csv(path, index=False)
    return str(path)


def test_blank_labels_are_dropped_and_counted_never_a_class(tmp_path):
    labels = ["pos", "neg"] * 10 + ["", "   ", "", "\t"]
    loaded = load_source(_params(_labelled_csv(tmp_path / "d.csv", labels)))
    cleaned, drops = clean_counted(loaded)
    assert drops == {"empty_text": 0, "missing_label": 4, "duplicate_text": 0}
    assert sorted(cleaned["label"].unique()) == ["neg", "pos"]
    assert len(cleaned) == 20


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_null_and_nan_labels_are_dropped(tmp_path, suffix):
    frame = sentences(20)
    frame["label"] = [" pos ", "neg"] * 8 + [None, float("nan"), "", " "]
    path = tmp_path / f"d{suffix}"
    frame.to_json(path, orient="records", lines=True) if suffix == ".jsonl" else frame.to_parquet(path)
    cleaned, drops = clean_counted(load_source(_params(path)))
    assert drops["missing_label"] == 4
    assert sorted(cleaned["label"].unique()) == ["neg", "pos"]  # stripped, and no 'nan' or 'None' class


def test_numeric_labels_with_a_gap_stay_integers(tmp_path):
    path = tmp_path / "d.jsonl"
    rows = [f'{{"text": "t{i}", "label": {i % 2}}}' for i in range(6)] + ['{"text": "x", "label": null}']
    path.write_text("\n".join(rows) + "\n")
    cleaned, drops = clean_counted(load_source(_params(path)))
    assert sorted(cleaned["label"].unique()) == ["0", "1"] and drops["missing_label"] == 1


def test_all_blank_labels_is_an_error_naming_the_label_column(tmp_path):
    source = load_source(_params(_labelled_csv(tmp_path / "d.csv", ["", " ", ""] * 4)))
    with pytest.raises(TextslimError, match=r"^data\.label_column: all 12 labels are missing or blank$"):
        clean_counted(source)


def test_drops_are_counted_once_each_in_order():
    frame = pd.DataFrame({"text": ["a", " a ", "", None, "b", "c", "d", "c", "e"],
                          "label": ["x", "y", "y", "y", "y", "x", None, "x", " "]})
    cleaned, drops = clean_counted(frame)
    assert cleaned["text"].tolist() == ["a", "b", "c"]
    assert drops == {"empty_text": 2, "missing_label": 2, "duplicate_text": 2}
    assert sum(drops.values()) + len(cleaned) == len(frame)


def test_a_duplicate_of_an_unlabelled_row_keeps_its_label():
    frame = pd.DataFrame({"text": ["a", "a", "b"], "label": ["", "x", "y"]})
    cleaned, drops = clean_counted(frame)
    assert cleaned.to_dict("records") == [{"text": "a", "label": "x"}, {"text": "b", "label": "y"}]
    assert drops == {"empty_text": 0, "missing_label": 1, "duplicate_text": 0}


def test_report_class_counts_sum_to_the_kept_rows():
    frame = pd.concat([sentences(300), sentences(20, seed=1).assign(label="meh")], ignore_index=True)
    frame = pd.concat([frame, frame.head(5), pd.DataFrame({"text": ["", "z"], "label": ["pos", None]})],
                      ignore_index=True)
    cleaned, drops = clean_counted(frame)
    parts = split(cleaned, DataParams(), seed=0)
    _, labels = encode_labels(parts)
    report = build_report("src", len(frame), drops, len(cleaned), parts, labels, None)
    assert report["dropped"] == {"empty_text": 1, "missing_label": 1, "duplicate_text": 5}
    assert report["rows_read"] == sum(report["dropped"].values()) + report["rows_kept"]
    counted = sum(sum(per_class.values()) for per_class in report["class_counts"].values())
    assert counted == report["rows_kept"] == sum(report["split_sizes"].values()) == 320
    assert report["left_out_by_train_limit"] == 0
    for name, part in parts.items():
        assert report["class_counts"][name] == part["label"].value_counts().reindex(labels).to_dict()


def test_train_limit_is_accounted_for():
    frame = sentences(200)
    parts = split(frame, DataParams(max_train_samples=50), seed=0)
    report = build_report("src", 200, {"empty_text": 0}, 200, parts, ["neg", "pos"], None)
    assert report["split_sizes"]["train"] == 50 and report["left_out_by_train_limit"] == 110


def test_small_classes_are_warned_about(caplog):
    counts = {"train": {"a": 50, "b": 9}, "validation": {"a": 6, "b": 1}, "test": {"a": 6, "b": 2}}
    assert class_warnings(counts, few_shot=False) == [
        "class 'b' has 9 train examples (fewer than 10)", "class 'b' has 1 validation example (fewer than 2)"]
    assert class_warnings(counts, few_shot=True) == ["class 'b' has 1 validation example (fewer than 2)"]
    frame = pd.concat([sentences(200), sentences(12, seed=3).assign(label="rare")], ignore_index=True)
    parts = split(frame, DataParams(validation_fraction=0.2, test_fraction=0.2), seed=0)
    with caplog.at_level("WARNING"):
        report = build_report("src", len(frame), {}, len(frame), parts, ["neg", "pos", "rare"], None)
    rare = int((parts["train"]["label"] == "rare").sum())
    assert rare < 10 and (parts["validation"]["label"] == "rare").sum() >= 2
    assert report["warnings"] == [f"class 'rare' has {rare} train examples (fewer than 10)"]
    assert f"class 'rare' has {rare} train examples" in caplog.text


def test_token_lengths_and_the_share_cut_at_max_length(tmp_path):
    from transformers import BertTokenizerFast

    tokenizer = BertTokenizerFast(vocab_file=str(write_vocab(tmp_path / "vocab.txt")), do_lower_case=True)
    texts = ["good", "the film was good", "the film was very very good and fun", "bad " * 20]
    lengths = token_lengths(texts, tokenizer, batch_size=3)
    assert lengths.tolist() == [3, 6, 10, 22]  # [CLS] ... [SEP]; nothing truncated
    stats = length_stats(lengths, max_length=8)
    assert stats == {"texts": 4, "over_max_length": 2, "share_over_max_length": 0.5, "median_tokens": 8.0,
                     "p95_tokens": pytest.approx(20.2)}
    assert length_stats(lengths, max_length=22)["over_max_length"] == 0


def test_data_report_lines_render_a_markdown_table():
    report = {"source": "x.csv", "rows_read": 1200, "dropped": {"empty_text": 1, "missing_label": 2,
                                                                 "duplicate_text": 3},
              "rows_kept": 1194, "left_out_by_train_limit": 0,
              "split_sizes": {"train": 1000, "validation": 97, "test": 97}, "labels": ["neg", "pos"],
              "class_counts": {"train": {"neg": 500, "pos": 500}, "validation": {"neg": 48, "pos": 49},
                               "test": {"neg": 49, "pos": 48}},
              "tokens": {"tokenizer": "builtin:minilm-l6", "max_length": 64,
                         "splits": {s: {"texts": 1, "over_max_length": 0, "share_over_max_length": 0.0125,
                                        "median_tokens": 26.0, "p95_tokens": 47.5}
                                    for s in ("train", "validation", "test")}},
              "warnings": ["class 'pos' has 1 validation example (fewer than 2)"]}
    lines = data_report_lines(report)
    text = "\n".join(lines)
    assert "1,200 rows read" in lines[0] and "2 missing or blank labels" in lines[0] and "1,194 kept" in lines[0]
    header = next(line for line in lines if line.startswith("| split"))
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "split", "texts", "neg", "pos", "over 64 tokens", "median / p95 tokens"]
    assert re.search(r"\| train +\| +1,000 \| +500 \| +500 \| +1\.25% \| +26 / 47\.5 \|", text)
    assert "⚠ class 'pos' has 1 validation example (fewer than 2)" in lines


def _stage(tmp_path, params: dict, *args: str):
    import yaml

    from tests.stages import run_stage_script

    repo = Path(__file__).resolve().parents[1]
    full = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in params.items():
        full[section].update(values)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(full))
    return run_stage_script("prepare_data", "--params", "params.yaml", "--out", "prepared", "--report-out",
                            "metrics/data.json", *args, cwd=tmp_path)


def test_prepare_data_stage_writes_the_report(tmp_path, tiny_teacher):
    labels = ["pos", "neg"] * 60 + ["", " "]
    csv = _labelled_csv(tmp_path / "d.csv", labels)
    done = _stage(tmp_path, {"data": {"source": csv}, "teacher": {"model": str(tiny_teacher), "max_length": 8}})
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "metrics" / "data.json").read_text())
    assert report["rows_read"] == 122 and report["dropped"]["missing_label"] == 2
    assert report["labels"] == ["neg", "pos"] == json.loads((tmp_path / "prepared" / "labels.json").read_text())[
        "labels"]
    assert report["tokens"]["max_length"] == 8
    # sentences(): 6 words and a number, 9 tokens with [CLS]/[SEP] (numbers are [UNK]): every text is over 8
    assert all(s["share_over_max_length"] == 1.0 for s in report["tokens"]["splits"].values())


def test_prepare_data_stage_with_all_labels_blank_writes_nothing(tmp_path, tiny_teacher):
    csv = _labelled_csv(tmp_path / "d.csv", [""] * 30)
    done = _stage(tmp_path, {"data": {"source": csv}, "teacher": {"model": str(tiny_teacher)}})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == "error: data.label_column: all 30 labels are missing or blank"
    assert not (tmp_path / "prepared").exists() and not (tmp_path / "metrics").exists()


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_a_csv_reads_as_its_records_even_with_bare_carriage_returns_in_texts(tmp_path, line_end):
    # pandas' to_csv leaves a text holding a bare \r unquoted; the default reader split such a record in two.
    texts = [f"tweet {i}\rsecond part {i}" if i % 3 == 0 else f"tweet {i}" for i in range(30)]
    texts[4] = "a quoted, multi-line\ntext"
    frame = pd.DataFrame({"label": ["pos", "neg"] * 15, "text": texts})
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False, lineterminator=line_end)
    loaded = load_source(_params(path))
    assert len(loaded) == 30 and loaded["text"].tolist() == texts  # no fragment, no text cut at the \r
    assert loaded["label"].tolist() == frame["label"].tolist()  # the last field keeps no \r of a \r\n file
    assert loaded["where"].tolist()[3:6] == ["line 5", "line 6", "line 8"]  # record 5 spans two lines


def test_rows_without_a_label_are_named_by_their_line_in_the_report(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('text,label\ngood,pos\n"two\nlines",\nbad,neg\n\nx, \ny,\nz,\nw,\nv,\nlast,pos\n')
    source = load_source(_params(path))
    cleaned, drops = clean_counted(source)
    assert len(source) == 9 and drops["missing_label"] == 6  # the blank line is no record
    where = unlabelled_at(source)
    assert where == ["line 3", "line 7", "line 8", "line 9", "line 10"]  # the first five
    parts = {name: cleaned for name in ("train", "validation", "test")}
    report = build_report("src", len(source), drops, len(cleaned), parts, ["neg", "pos"], None,
                          missing_label_at=where)
    assert report["rows_read"] == 9 and report["missing_label_at"] == where
    assert "6 missing or blank labels (the first at line 3, line 7, line 8, line 9, line 10)" in \
        data_report_lines(report)[0]


def test_integer_labels_keep_their_numeric_order():
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(120)], "label": [str(i % 12) for i in range(120)]})
    parts = {name: frame for name in ("train", "validation", "test")}
    encoded, labels = encode_labels(parts)
    assert labels == [str(i) for i in range(12)]  # "2" before "10", not text order
    assert encoded["train"]["label"].tolist() == [i % 12 for i in range(120)]
    assert label_order(["-1", "1", "0"]) == ["-1", "0", "1"]
    assert label_order(["10", "2", "b"]) == ["10", "2", "b"]  # not all integers: text order
    assert label_order(["1", "01", "2"]) == label_order(["01", "2", "1"]) == ["01", "1", "2"]  # ties: one order


@pytest.mark.parametrize("raw, texts", [
    ("\ntext,label\na,pos\n", ["a"]),  # a blank line before the header
    ("text,label\ra,pos\rb,neg\r", ["a", "b"]),  # old Mac line ends: no \n anywhere
    ("text,label\n,\n  ,  \n\nc,neg\n", ["", "  ", "c"]),  # an empty record is one, a blank line is none
    ("text,label\r\na,pos\r\n\r\nb,neg\r\n\r\n", ["a", "b"]),  # blank \r\n lines are no records either
])
def test_csv_dialects_read_as_records(tmp_path, raw, texts):
    path = tmp_path / "d.csv"
    path.write_text(raw, newline="")
    loaded = load_source(_params(path))
    assert loaded["text"].tolist() == texts


def test_a_quote_inside_an_unquoted_field_does_not_shift_the_line_numbers(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('text,label\n5" screen,1\n12" screen,\n\n"two\nlines",\nb,2\n', newline="")
    loaded = load_source(_params(path))
    assert loaded["text"].tolist() == ['5" screen', '12" screen', "two\nlines", "b"]
    assert loaded["where"].tolist() == ["line 2", "line 3", "line 5", "line 7"]
