"""The drift check's texts (params `drift`): labelled texts from another domain than the training data, with their
labels mapped onto the data's, so that the teacher and every deployable form can be scored where production text
drifts. The in-domain test split hides what compression costs there: on tweets, the pruned 3-layer student of the
default profile lost 9 points more than in domain (issue 21).

`drift.source: auto` uses the pairing below for the data source, if there is one (none for a user's own data).
"""

import numpy as np
import pandas as pd

from textslim.data_params import DataParams, DriftParams
from textslim.errors import TextslimError
from textslim.sources import clean, load_source

# data.source -> (drift source, {drift label: data label}): sentiment of tweets for the movie reviews.
PAIRINGS = {"builtin:rotten-tomatoes": ("builtin:tweets-sentiment", {"positive": "fresh", "negative": "rotten"})}


def resolve(cfg: DriftParams, data_source: str) -> tuple[str, dict[str, str]] | None:
    """(source, label_map) for the check, or None when there is none (drift.source null, or auto without a pairing)."""
    if cfg.source is None:
        return None
    if cfg.source == "auto":
        return PAIRINGS.get(data_source)
    return cfg.source, dict(cfg.label_map)


def drift_texts(cfg: DriftParams, data_source: str, labels: list[str], splits: dict[str, pd.DataFrame],
                seed: int) -> tuple[pd.DataFrame, dict]:
    """The check's texts (text, label id in the data's order) and a report of what was read, mapped and dropped.
    An empty frame when there is no check."""
    empty = pd.DataFrame({"text": pd.Series([], dtype=str), "label": pd.Series([], dtype="int64")})
    chosen = resolve(cfg, data_source)
    if chosen is None:
        return empty, {"source": None}
    source, label_map = chosen
    unknown = sorted(set(label_map.values()) - set(labels))
    if unknown:
        raise TextslimError(f"drift.label_map: maps onto {unknown}, which are not labels of the data "
                            f"({', '.join(labels)}); map onto those, or set drift.source: null")
    frame = clean(load_source(DataParams(source=source, text_column=cfg.text_column,
                                         label_column=cfg.label_column)))
    read = len(frame)
    seen = {label for label in frame["label"]}
    missing = sorted(set(label_map) - seen)
    if missing:
        raise TextslimError(f"drift.label_map: {source} has no label {missing}; its labels are {sorted(seen)}")
    frame = frame[frame["label"].isin(label_map)]
    labelled = set().union(*(set(part["text"]) for part in splits.values()))
    in_splits = frame["text"].isin(labelled)
    frame = frame[~in_splits]
    if frame.empty:
        raise TextslimError(f"drift.source: no text of {source} is left after mapping its labels and dropping the "
                            "texts of the labelled splits")
    if len(frame) > cfg.max_texts:  # stratified: each class keeps its share
        share = cfg.max_texts / len(frame)
        frame = frame.groupby("label", group_keys=False).sample(frac=share, random_state=seed)
    frame = frame.sample(frac=1.0, random_state=seed)  # no class in a block: batches look like production
    ids = {name: i for i, name in enumerate(labels)}
    out = pd.DataFrame({"text": frame["text"].to_numpy(),
                        "label": np.array([ids[label_map[label]] for label in frame["label"]], dtype=np.int64)})
    counts = {labels[i]: int(n) for i, n in sorted(out["label"].value_counts().items())}
    return out, {"source": source, "label_map": label_map, "read": read, "in_labelled_splits": int(in_splits.sum()),
                 "texts": len(out), "class_counts": counts}


def drift_lines(rows: list[dict], report: dict, flag_points: float) -> list[str]:
    """reports/summary.md's drift section: each form's gap to the PyTorch teacher in domain (test split) and off it
    (the drift texts), flagged where the off-domain gap is more than flag_points worse. Nothing without a check."""
    teacher = next((r for r in rows if r["name"] == "teacher" and "drift_accuracy" in r), None)
    if report.get("source") is None or teacher is None:
        return []
    mapped = ", ".join(f"{source} → {target}" for source, target in report["label_map"].items())
    counts = ", ".join(f"{label} {n:,}" for label, n in report["class_counts"].items())
    records, flagged = [], []
    for row in (r for r in rows if "drift_accuracy" in r):
        inside = 100 * (row["accuracy"] - teacher["accuracy"])
        outside = 100 * (row["drift_accuracy"] - teacher["drift_accuracy"])
        flag = outside < inside - flag_points
        if flag:
            flagged.append(f"`{row['name']}` ({outside:+.2f} off domain against {inside:+.2f} in domain)")
        records.append({"model": row["name"] + (" ⚠" if flag else ""),
                        "in-domain accuracy": f"{100 * row['accuracy']:.2f}", "Δ in domain (pts)": f"{inside:+.2f}",
                        "off-domain accuracy": f"{100 * row['drift_accuracy']:.2f}",
                        "Δ off domain (pts)": f"{outside:+.2f}"})
    lines = ["## Off the training domain (drift check)", "",
             f"`{report['source']}`, its labels mapped {mapped}: {report['texts']:,} texts ({counts}), none of them "
             "in the labelled splits. Δ: the accuracy difference to the PyTorch teacher, in points. ⚠: the gap off "
             f"the domain is more than {flag_points:g} points worse than in it: what the in-domain test hides.", "",
             pd.DataFrame(records).to_markdown(index=False, disable_numparse=True), ""]
    lines += ([f"Flagged: {'; '.join(flagged)}.", ""] if flagged else
              [f"No form loses more than {flag_points:g} points more off the domain than in it.", ""])
    return lines
