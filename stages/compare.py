"""Stage compare: time every variant, the teacher and the baseline interleaved in one process; summary and plots."""

import argparse
import logging
from pathlib import Path

import torch

from textslim.atomic import atomic_file, read_json, write_json
from textslim.cli import run_stage
from textslim.cpu import describe_cpu
from textslim.data import read_prepared
from textslim.forms import ONNX_INT8, form_named, model_folder
from textslim.inference import load
from textslim.measure.bench import benchmark
from textslim.measure.evaluation import predict
from textslim.measure.plots import (
    accuracy_vs_latency,
    confusion,
    confusion_long,
    size_bars,
    training_curves,
    variant_points,
)
from textslim.measure.report import best_student, read_evaluated, variant_rows, with_timings
from textslim.measure.roofline import (
    Peaks,
    as_dict,
    matmul_peaks,
    median_tokens,
    roofline_figures,
    tokenizer_ms,
    torch_source,
    where_the_time_goes,
    work_per_text,
)
from textslim.measure.significance import with_accuracy_intervals
from textslim.params import load_params

log = logging.getLogger(__name__)
HEADLINE = ("accuracy", "macro_f1", "delta_accuracy_ci95_low", "delta_accuracy_ci95_high", "batch1_ms_median",
            "texts_per_s", "size_mb", "speedup_vs_teacher", "size_ratio_vs_teacher", "speedup_vs_teacher_int8",
            "size_ratio_vs_teacher_int8")


def _load(row: dict, models: Path, thread_counts: list[int]) -> dict:
    """The variant's classifier for each thread count: one ONNX Runtime session per count (ORT fixes them per
    session); PyTorch and scikit-learn share one object (torch's threads are set before each timed block)."""
    form = form_named(row["form"])
    folder = model_folder(models, form, row["student"])
    if form.runtime == "onnxruntime":
        return {n: load(form, folder, row["max_length"], n) for n in thread_counts}
    return dict.fromkeys(thread_counts, load(form, folder, row["max_length"]))


def _with_roofline(rows: list[dict], models: Path, classifiers: dict, texts: list[str], peaks: Peaks, batch: int,
                   latency_texts: list[str]) -> list[dict]:
    """Each model variant's FLOPs, floors and ratios (at the test split's median length with its own tokenizer),
    and its tokenizer's batch-1 time. The TF-IDF baseline is sparse arithmetic: no GEMM floor applies."""
    out, works = [], {}
    for row in rows:
        source = torch_source(row, models)
        if source is None:
            out.append(row)
            continue
        classifier = next(iter(classifiers[row["name"]].values()))
        tokens = median_tokens(classifier.tokenizer, texts, row["max_length"])
        if (source, tokens) not in works:
            works[source, tokens] = work_per_text(source, tokens)
        out.append({**row, **roofline_figures(row, works[source, tokens], peaks, batch),
                    "tokenizer_ms": round(tokenizer_ms(classifier, latency_texts), 4)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", required=True)
    parser.add_argument("--metrics-dir", required=True)
    parser.add_argument("--models", required=True, type=Path, help="the models root: every form's folder is found "
                        "under it as dvc.yaml lays them out (textslim.forms.model_folder)")
    parser.add_argument("--predictions-dir", required=True, type=Path)
    parser.add_argument("--summary-out", required=True)
    parser.add_argument("--plots-dir", required=True)
    args = parser.parse_args()

    params = load_params(args.params)
    cfg = params.compare
    metrics_dir = Path(args.metrics_dir)
    teacher = read_json(metrics_dir / "teacher.json")
    baseline = read_json(metrics_dir / "baseline.json")
    students = read_evaluated(params, metrics_dir)  # each student distilled, then each of its compression chains
    teacher_deployed = read_json(metrics_dir / "teacher-deployed.json")
    rows = variant_rows(teacher, baseline, students, params.teacher.max_length, teacher_deployed)

    threads = cfg.main_threads()
    thread_counts = sorted({threads, *cfg.latency_threads})
    splits, labels = read_prepared(args.data)
    texts = splits["test"]["text"].tolist()
    classifiers = {r["name"]: _load(r, args.models, thread_counts) for r in rows}
    # The reference for every paired interval: the PyTorch teacher scored as the evaluate stages score the rest
    reference = predict(classifiers["teacher"][threads], texts, params.evaluate.batch_size)
    truth = splits["test"]["label"].to_numpy()
    if abs((reference == truth).mean() - rows[0]["accuracy"]) > 1e-6:
        log.warning("the teacher scores %.4f here and %.4f in metrics/teacher.json: the intervals' reference "
                    "differs from the table's", (reference == truth).mean(), rows[0]["accuracy"])
    rows = with_accuracy_intervals(rows, truth, reference, args.predictions_dir)
    # The INT8 models' own record (teacher-int8's quantize.json, as evaluate_teacher read it): where they came from
    # a remote or the run cache, they may have been quantized on another CPU than this one.
    quantized = teacher_deployed["quantize"]
    cpu = {**describe_cpu(), "int8_preset": quantized["preset"], "quantized_on": quantized["cpu"]}
    peaks = matmul_peaks(threads, operands=quantized)
    log.info("%s, int8 path %s; GEMM peaks with %d threads: fp32 %.0f GFLOP/s (PyTorch %.0f, ONNX Runtime %.0f), "
             "int8 %.0f GOP/s (%s)", cpu["model"], cpu["int8_path"], threads, peaks.fp32, peaks.torch_fp32,
             peaks.ort_fp32, peaks.ort_int8, peaks.int8_operands)
    log.info("timing %d variants with %s threads", len(rows), thread_counts)
    batch_sizes = sorted(set(cfg.throughput_batch_sizes))
    latency_texts = texts[:cfg.latency_texts]
    timings = benchmark(classifiers, latency_texts, cfg.warmup, texts[:512], batch_sizes, cfg.throughput_rounds,
                        threads)
    torch.set_num_threads(threads)
    rows = _with_roofline(with_timings(rows, timings), args.models, classifiers, texts, peaks, batch_sizes[-1],
                          latency_texts)
    best = best_student(rows)
    breakdown = None
    if best is not None:  # batch 1 (latency) and the largest batch (throughput)
        largest = batch_sizes[-1]
        breakdown = [where_the_time_goes(classifiers[best["name"]][threads], texts[:512], threads, batch,
                                         best[f"floor_ms_batch{batch}"]) for batch in sorted({1, largest})]

    plots = Path(args.plots_dir)
    plots.mkdir(parents=True, exist_ok=True)
    accuracy_vs_latency(rows, plots / "accuracy_vs_latency.png", threads)
    size_bars(rows, plots / "size.png")
    points = variant_points(rows)
    for name, columns in (("variants.csv", list(points.columns)), ("sizes.csv", ["variant", "size_mb"])):
        with atomic_file(plots / name) as tmp:  # two files: DVC draws one plot per file and stage
            points[columns].to_csv(tmp, index=False)
    no_epochs = "trained by SetFit: no epoch curves" if teacher.get("recipe") == "setfit" else "not fine-tuned here"
    histories = {"teacher": teacher["history"] or no_epochs,
                 **{s: students[s]["recipe"]["history"] for s in params.distill.students}}
    training_curves(histories, plots / "training_curves.png")
    if best is not None:
        matrix = students[best["student"]]["confusion"]["forms"][ONNX_INT8.name]
        confusion(matrix, labels, f"{best['name']} on the test split", plots / "confusion_best.png")
        with atomic_file(plots / "confusion_best.csv") as tmp:
            confusion_long(matrix, labels).to_csv(tmp, index=False)

    summary = {"cpu": cpu, "threads": threads, "labels": labels, "test_texts": len(texts),
               "latency_texts": min(cfg.latency_texts, len(texts)),
               "throughput_batch_sizes": batch_sizes, "latency_threads": thread_counts, "peaks": as_dict(peaks),
               "where_the_time_goes": breakdown,
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
