"""Side-by-side studies outside the pipeline (scripts/prune_frontier.py, scripts/ablation.py): accuracy, size and
batch-1 latency of a few variants, timed interleaved in one process like the compare stage, ratios against the
first variant (the teacher)."""

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from textslim.data import read_prepared
from textslim.forms import ONNX_INT8, TEACHER, Form, read_student_record
from textslim.inference import TextClassifier, load
from textslim.measure.bench import benchmark
from textslim.measure.evaluation import deployed_bytes, predict
from textslim.measure.significance import accuracy_difference_interval
from textslim.metrics import classification_metrics
from textslim.params import Params, load_params


@dataclass
class Variant:
    classifier: TextClassifier
    model_dir: Path
    model_file: str  # what is deployed: model.safetensors, model.onnx or model_quantized.onnx


@dataclass
class Study:
    """What a study reads: params, the prepared splits, the teacher's logits, and the teacher's two reference rows."""

    params: Params
    splits: dict[str, pd.DataFrame]
    labels: list[str]
    teacher_logits: dict[str, np.ndarray]
    max_length: int  # the student's
    references: dict[str, "Variant"]  # the teacher in PyTorch fp32 and teacher-int8


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments every study takes: the student, the teacher's forms, data, logits, params, the report."""
    parser.add_argument("--student", required=True, type=Path, help="a distill_student output directory")
    parser.add_argument("--teacher", default="models/teacher", type=Path)
    parser.add_argument("--teacher-int8", default="models/quantized/teacher", type=Path)
    parser.add_argument("--data", default="data/prepared")
    parser.add_argument("--teacher-logits", default="data/teacher_logits", type=Path)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--latency-texts", type=int, default=200)
    parser.add_argument("--out", required=True, type=Path, help="the markdown report to write")


def load_study(args: argparse.Namespace) -> Study:
    """Read what add_study_arguments names."""
    splits, labels = read_prepared(args.data)
    max_length = read_student_record(args.student)["max_length"]
    references = {"teacher (PyTorch fp32)": variant(TEACHER, args.teacher, max_length),
                  "teacher-int8": variant(ONNX_INT8, args.teacher_int8, max_length)}
    return Study(load_params(args.params), splits, labels,
                 {name: np.load(args.teacher_logits / f"{name}.npy") for name in ("train", "validation")},
                 max_length, references)


def variant(form: Form, directory: Path, max_length: int) -> "Variant":
    """The model of `form` in `directory` as a study variant."""
    return Variant(load(form, directory, max_length), directory, form.file)


def measure(variants: dict[str, Variant], test: pd.DataFrame, labels: list[str], latency_texts: int) -> pd.DataFrame:
    """One row per variant: accuracy, MB on disk, batch-1 median ms, texts/s, and ratios against the first variant,
    with the paired 95% interval of the accuracy difference to it (textslim.measure.significance)."""
    texts = test["text"].tolist()
    threads = torch.get_num_threads()
    timings = benchmark({name: {threads: v.classifier} for name, v in variants.items()}, texts[:latency_texts],
                        warmup=20, throughput_texts=texts[:512], batch_sizes=[32], rounds=3, threads=threads)
    rows, truth, reference = [], test["label"].to_numpy(), None
    for name, variant in variants.items():
        predictions = predict(variant.classifier, texts, batch_size=64)
        reference = predictions if reference is None else reference
        low, high = accuracy_difference_interval(truth, reference, predictions)
        scores = classification_metrics(truth, predictions, labels)
        rows.append({"variant": name, "accuracy": scores["accuracy"], "delta_low": low, "delta_high": high,
                     "mb": deployed_bytes(variant.model_dir, variant.model_file) / 1e6,
                     "batch1_ms": timings[name].batch1_ms_median, "texts_per_s": timings[name].texts_per_s})
    frame = pd.DataFrame(rows)
    frame["speedup"] = frame["batch1_ms"].iloc[0] / frame["batch1_ms"]
    frame["smaller"] = frame["mb"].iloc[0] / frame["mb"]
    return frame


def markdown(frame: pd.DataFrame) -> str:
    """The study's table, ratios against its first row."""
    first = frame["variant"].iloc[0]
    return pd.DataFrame({
        "variant": frame["variant"], "accuracy": (100 * frame["accuracy"]).map("{:.2f}".format),
        "Δ pts": (100 * (frame["accuracy"] - frame["accuracy"].iloc[0])).map("{:+.2f}".format),
        "Δ 95% interval": [f"{100 * lo:+.2f} to {100 * hi:+.2f}" for lo, hi in zip(frame["delta_low"],
                                                                                  frame["delta_high"])],
        "MB on disk": frame["mb"].map("{:.1f}".format), "batch-1 ms (p50)": frame["batch1_ms"].map("{:.2f}".format),
        "texts/s": frame["texts_per_s"].map("{:.0f}".format),
        f"speed-up vs {first}": frame["speedup"].map("{:.1f}×".format),
        f"smaller than {first}": frame["smaller"].map("{:.1f}×".format),
    }).to_markdown(index=False, disable_numparse=True)
