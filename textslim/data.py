"""The prepared splits, as prepare_data writes them and every later stage reads them: the one contract on data."""

import json
from pathlib import Path

import pandas as pd

from textslim.errors import TextslimError

SPLITS = ("train", "validation", "test")
UNLABELLED_FILE = "unlabelled.parquet"


def sample_per_class(frame: pd.DataFrame, k: int, seed: int, key: str) -> pd.DataFrame:
    """k random rows of every label; a class with fewer than k rows is an error naming the param `key`."""
    counts = frame["label"].value_counts()
    if (counts < k).any():
        label = counts.idxmin()
        raise TextslimError(f"{key}: {k} exceeds the {counts[label]} training examples of class {label}")
    return frame.groupby("label", group_keys=False).sample(n=k, random_state=seed)


def write_prepared(splits: dict[str, pd.DataFrame], labels: list[str], out_dir: Path,
                   unlabelled: list[str] = ()) -> None:
    """Write {split}.parquet (text, label id), labels.json and unlabelled.parquet (text: transfer texts without a
    label, which only the teacher labels; empty unless few-shot) into out_dir."""
    for name, part in splits.items():
        part[["text", "label"]].to_parquet(out_dir / f"{name}.parquet", index=False)
    (out_dir / "labels.json").write_text(json.dumps({"labels": labels}, indent=2) + "\n")
    pd.DataFrame({"text": list(unlabelled)}, dtype=str).to_parquet(out_dir / UNLABELLED_FILE, index=False)


def read_prepared(data_dir: str | Path) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Read what write_prepared wrote; a missing file is a one-line error naming it."""
    data_dir = Path(data_dir)
    needed = [data_dir / f"{name}.parquet" for name in SPLITS] + [data_dir / "labels.json"]
    for path in needed:
        if not path.is_file():
            raise TextslimError(f"prepared data missing: {path} (run the prepare_data stage first)")
    splits = {name: pd.read_parquet(data_dir / f"{name}.parquet") for name in SPLITS}
    labels = json.loads((data_dir / "labels.json").read_text())["labels"]
    return splits, labels


def read_unlabelled(data_dir: str | Path) -> list[str]:
    """The transfer texts without a label that write_prepared wrote; a missing file is a one-line error."""
    path = Path(data_dir) / UNLABELLED_FILE
    if not path.is_file():
        raise TextslimError(f"prepared data missing: {path} (run the prepare_data stage again)")
    return pd.read_parquet(path)["text"].tolist()
