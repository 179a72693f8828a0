"""Stage compare: time every variant, the teacher and the baseline interleaved in one process; summary and plots."""

import argparse
import logging
import os
from pathlib import Path

import torch

from textslim.atomic import atomic_file, read_json, write_json
from textslim.bench import benchmark
from textslim.cli import run_stage
from textslim.data import read_prepared
from textslim.inference import OnnxClassifier, SklearnClassifier, TorchClassifier
from textslim.params import load_params
from textslim.plots import (
    accuracy_vs_latency,
    confusion,
    confusion_long,
    size_bars,
    training_curves,
    variant_points,
)
from textslim.report import best_student, variant_rows, with_timings

log = logging.getLogger(__name__)
HEADLINE = ("accuracy", "macro_f1", "batch1_ms_median", "texts_per_s", "size_mb", "speedup_vs_teacher",
            "size_ratio_vs_teacher", "speedup_vs_teacher_int8", "size_ratio_vs_teacher_int8")


def _load(row: dict, threads: int):
    path = Path(row["path"])
    if row["runtime"] == "pytorch":
        return TorchClassifier(path, row["max_length"])
    if row["runtime"] == "onnxruntime":
        return OnnxClassifier(path, row["model_file"], row["max_length"], threads)
    return SklearnClassifier(path / row["model_file"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", default="data/prepared")
    parser.add_argument("--metrics-dir", default="metrics")
    parser.add_argument("--teacher", default="models/teacher")
    parser.add_argument("--baseline", default="models/baseline")
    parser.add_argument("--summary-out", default="metrics/summary.json")
    parser.add_argument("--plots-dir", default="plots")
    args = parser.parse_args()

    params = load_params(args.params)
    cfg = params.compare
    metrics_dir = Path(args.metrics_dir)
    teacher = read_json(metrics_dir / "teacher.json")
    baseline = read_json(metrics_dir / "baseline.json")
    students = {s: read_json(metrics_dir / "students" / f"{s}.json") for s in params.distill.students}
    rows = variant_rows(teacher, baseline, students, args.teacher, args.baseline, params.teacher.max_length,
                        read_json(metrics_dir / "teacher-deployed.json"))

    threads = cfg.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    splits, labels = read_prepared(args.data)
    texts = splits["test"]["text"].tolist()
    classifiers = {r["name"]: _load(r, threads) for r in rows}
    log.info("timing %d variants with %d threads", len(rows), threads)
    timings = benchmark(classifiers, texts[:cfg.latency_texts], cfg.warmup, texts[:512],
                        cfg.throughput_batch_size, cfg.throughput_rounds)
    rows = with_timings(rows, timings)
    best = best_student(rows)

    plots = Path(args.plots_dir)
    plots.mkdir(parents=True, exist_ok=True)
    accuracy_vs_latency(rows, plots / "accuracy_vs_latency.png", threads)
    size_bars(rows, plots / "size.png")
    points = variant_points(rows)
    for name, columns in (("variants.csv", list(points.columns)), ("sizes.csv", ["variant", "size_mb"])):
        with atomic_file(plots / name) as tmp:  # two files: DVC draws one plot per file and stage
            points[columns].to_csv(tmp, index=False)
    histories = {"teacher": teacher["history"], **{s: m["recipe"]["history"] for s, m in students.items()}}
    training_curves(histories, plots / "training_curves.png")
    if best is not None:
        matrix = students[best["student"]]["confusion"]["forms"]["onnx-int8"]
        confusion(matrix, labels, f"{best['name']} on the test split", plots / "confusion_best.png")
        with atomic_file(plots / "confusion_best.csv") as tmp:
            confusion_long(matrix, labels).to_csv(tmp, index=False)

    summary = {"threads": threads, "labels": labels, "latency_texts": min(cfg.latency_texts, len(texts)),
               "throughput_batch_size": cfg.throughput_batch_size,
               "best_student": best["name"] if best else None, "variants": rows,
               # dvc metrics show/diff skip lists: the headline figures again, keyed by variant name
               "by_variant": {r["name"]: {k: r[k] for k in HEADLINE if k in r} for r in rows}}
    write_json(args.summary_out, summary)
    if best:
        log.info("best INT8 student %s: %.2f%% accuracy (teacher %.2f%%), %.1fx faster, %.1fx smaller",
                 best["name"], 100 * best["accuracy"], 100 * rows[0]["accuracy"], best["speedup_vs_teacher"],
                 best["size_ratio_vs_teacher"])


if __name__ == "__main__":
    run_stage(main)
