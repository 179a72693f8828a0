"""What prepare_data read, dropped and kept, and how much of each split the teacher's max_length cuts.

prepare_data writes this report as metrics/data.json; data_report_lines() renders it for reports/summary.md.
"""

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from textslim.errors import TextslimError

log = logging.getLogger(__name__)

# A class is flagged when it has fewer than MIN_TRAIN_PER_CLASS training examples (not checked when
# data.shots_per_class asks for few-shot training on purpose) or fewer than MIN_EVAL_PER_CLASS in validation or test
# (its per-class scores would rest on one text).
MIN_TRAIN_PER_CLASS = 10
MIN_EVAL_PER_CLASS = 2
MAX_CLASS_COLUMNS = 8  # more classes than this: the markdown table shows the smallest class instead of every one


def load_tokenizer(reference: str, key: str):
    """The tokenizer of a model reference (builtin:NAME, a local directory, a hub id); an error names `key`."""
    from transformers import AutoTokenizer

    from textslim.assets import resolve_model

    source = resolve_model(reference, key=key)
    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as err:
        raise TextslimError(f"{key}: cannot load a tokenizer from {reference!r} ({type(err).__name__})") from None


def token_lengths(texts: Sequence[str], tokenizer, batch_size: int = 1024) -> np.ndarray:
    """Tokens per text as the model sees it, special tokens included, before any truncation."""
    lengths = []
    for start in range(0, len(texts), batch_size):
        encoded = tokenizer(list(texts[start:start + batch_size]), add_special_tokens=True, truncation=False,
                            verbose=False)
        lengths += [len(ids) for ids in encoded["input_ids"]]
    return np.asarray(lengths, dtype=np.int64)


def length_stats(lengths: np.ndarray, max_length: int) -> dict:
    """How many texts max_length cuts, and the median and 95th-percentile token length."""
    over = int((lengths > max_length).sum())
    return {"texts": int(len(lengths)), "over_max_length": over,
            "share_over_max_length": round(over / len(lengths), 6) if len(lengths) else 0.0,
            "median_tokens": round(float(np.median(lengths)), 1) if len(lengths) else 0.0,
            "p95_tokens": round(float(np.percentile(lengths, 95)), 1) if len(lengths) else 0.0}


def class_counts(splits: dict[str, pd.DataFrame], labels: list[str]) -> dict[str, dict[str, int]]:
    """Examples of every class (by name, in `labels` order) in every split."""
    return {name: {label: int(n) for label, n in part["label"].value_counts().reindex(labels, fill_value=0).items()}
            for name, part in splits.items()}


def class_warnings(counts: dict[str, dict[str, int]], few_shot: bool) -> list[str]:
    """One line per class too small to train on or to score reliably (rule: see MIN_TRAIN_PER_CLASS above)."""
    warnings = []
    for split_name, per_class in counts.items():
        least = MIN_TRAIN_PER_CLASS if split_name == "train" else MIN_EVAL_PER_CLASS
        if split_name == "train" and few_shot:
            continue
        for label, n in per_class.items():
            if n < least:
                warnings.append(f"class {label!r} has {n} {split_name} example{'s' * (n != 1)} (fewer than {least})")
    return warnings


def build_report(source: str, rows_read: int, drops: dict[str, int], rows_kept: int,
                 splits: dict[str, pd.DataFrame], labels: list[str], tokens: dict | None,
                 few_shot: bool = False, missing_label_at: Sequence[str] = (), unlabelled: int = 0,
                 source_notes: dict | None = None, too_small: dict[str, int] | None = None) -> dict:
    """metrics/data.json. `splits` hold label names (before encoding); `tokens` is {tokenizer, max_length,
    splits: {split: length_stats}} or None. Rows a train limit (max_train_samples, shots_per_class) left out are
    counted, so rows_read = sum(dropped) + rows_kept and rows_kept = sum(split sizes) + unlabelled +
    left_out_by_train_limit; `unlabelled` training texts lost their labels to shots_per_class but stay as transfer
    texts. `source_notes`: what a built-in noted on reading (its encoding, texts with conflicting labels dropped).
    `too_small`: the classes too small for every split, dropped, with their sizes (counted in rows_kept too).
    `missing_label_at` names where the first rows with a text but no label are ("line 7"), for the user to find."""
    counts = class_counts(splits, labels)
    used = sum(len(part) for part in splits.values())
    warnings = class_warnings(counts, few_shot)
    for line in warnings:
        log.warning("data: %s", line)
    report = {"source": source, "rows_read": int(rows_read), "dropped": {k: int(v) for k, v in drops.items()},
              "missing_label_at": list(missing_label_at), "rows_kept": int(rows_kept),
              "unlabelled": int(unlabelled), "too_small_classes": dict(too_small or {}),
              "left_out_by_train_limit": int(rows_kept - used - unlabelled - sum((too_small or {}).values())),
              "split_sizes": {name: int(len(part)) for name, part in splits.items()},
              "labels": list(labels), "class_counts": counts}
    if source_notes:
        report["source_notes"] = dict(source_notes)
    if tokens is not None:
        report["tokens"] = tokens
    report["warnings"] = warnings
    return report


def _n(value: int) -> str:
    return f"{value:,}"


def _first_at(where: list[str] | None) -> str:
    return f" (the first at {', '.join(where)})" if where else ""


def _notes(report: dict) -> str:
    notes, said = report.get("source_notes", {}), []
    if notes.get("encoding", "utf-8") != "utf-8":
        said.append(f"The file is not valid UTF-8 and was read as {notes['encoding']}.")
    if notes.get("conflicting_label_rows_dropped"):
        said.append(f"The file holds {_n(notes['rows_in_file'])} rows; {_n(notes['conflicting_label_rows_dropped'])} "
                    f"of them ({_n(notes['conflicting_label_texts_dropped'])} distinct texts labelled two ways) were "
                    "dropped before the rows above were read.")
    if report.get("too_small_classes"):
        named = ", ".join(f"{label} ({n})" for label, n in report["too_small_classes"].items())
        said.append(f"Classes too small for every split, dropped (the texts each had): {named}.")
    return "".join(" " + line for line in said)


def data_report_lines(report: dict) -> list[str]:
    """The report as markdown for reports/summary.md: a sentence on what was read and dropped, a table per split
    (sizes, classes, how much max_length cuts), and the warnings."""
    dropped = report["dropped"]
    lines = [f"Data `{report['source']}`: {_n(report['rows_read'])} rows read; dropped "
             f"{_n(dropped.get('empty_text', 0))} empty texts, {_n(dropped.get('missing_label', 0))} missing or blank "
             f"labels{_first_at(report.get('missing_label_at'))}, {_n(dropped.get('duplicate_text', 0))} duplicate "
             f"texts; {_n(report['rows_kept'])} kept"
             + (f", {_n(report['unlabelled'])} of them as unlabelled transfer texts (few-shot: their labels unused)"
                if report.get("unlabelled") else "")
             + (f", {_n(report['left_out_by_train_limit'])} of them left out of training by the train limit"
                if report.get("left_out_by_train_limit") else "") + "." + _notes(report), ""]
    labels = report["labels"]
    tokens = report.get("tokens")
    rows = []
    for name, size in report["split_sizes"].items():
        row = {"split": name, "texts": _n(size)}
        per_class = report["class_counts"][name]
        if len(labels) <= MAX_CLASS_COLUMNS:
            row.update({label: _n(per_class[label]) for label in labels})
        else:
            smallest = min(per_class, key=per_class.get)
            row["smallest class"] = f"{smallest} ({_n(per_class[smallest])})"
        if tokens is not None:
            stats = tokens["splits"][name]
            row[f"over {tokens['max_length']} tokens"] = f"{100 * stats['share_over_max_length']:.2f}%"
            row["median / p95 tokens"] = f"{stats['median_tokens']:g} / {stats['p95_tokens']:g}"
        rows.append(row)
    table = pd.DataFrame(rows)
    align = ("left",) + ("right",) * (len(table.columns) - 1)
    lines += [*table.to_markdown(index=False, disable_numparse=True, colalign=align).splitlines(), ""]
    if tokens is not None:
        lines += [f"Token lengths with the teacher's tokenizer (`{tokens['tokenizer']}`), special tokens included; "
                  f"texts over {tokens['max_length']} tokens are cut.", ""]
    lines += [f"⚠ {line}" for line in report.get("warnings", [])]
    if report.get("warnings"):
        lines.append("")
    return lines
