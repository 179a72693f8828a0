"""quantize.mode: auto, static INT8 where it costs neither accuracy, speed nor size, dynamic elsewhere (issue 23
part 3).

Dynamic INT8 computes each activation's scale from the whole call's input, so a served text's answer can change with
the texts batched beside it; static scales, calibrated once, cannot. What static costs depends on the model and the
data: nothing decided on rotten-tomatoes' spread, for 5% more batch-1 latency (reports/int8-static-spread.md), but
2.4-3 points on 4 of 6 trec-50 models (reports/int8-static-trec.md). So auto quantizes each model both ways and keeps
static only where, on the validation split (never test), it is at most `auto_max_drop_points` less accurate than
dynamic, its batch-1 latency, the two timed interleaved in one process, is at most `auto_max_slowdown` above
dynamic's, and its model file is at most `auto_max_growth` larger: optimum's static operator list leaves some weights
in fp32 that dynamic quantizes (a BiLSTM's LSTM weights: static lstm.full-int8's model file was 1.79 MB against
dynamic's 1.10).
"""

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from textslim.forms import ONNX_INT8
from textslim.inference import load
from textslim.measure.bench import benchmark
from textslim.measure.evaluation import predict

log = logging.getLogger(__name__)
MODES = ("dynamic", "static")
SCORING_BATCH = 64  # the evaluate stage's default batch: validation accuracy as the select stage will read it
WARMUP_CALLS = 10


def decide(accuracy: dict[str, float], batch1_ms: dict[str, float], size_mb: dict[str, float],
           max_drop_points: float, max_slowdown: float, max_growth: float) -> tuple[str, str, str | None]:
    """(mode, why, binds) from each mode's validation accuracy (a fraction), batch-1 latency and model file size:
    binds names every limit static missed ("accuracy", "latency", "size", or two or three of them joined by "and"),
    None when static is kept."""
    # rounded, so that a figure exactly at its limit is within it despite float arithmetic (0.80 - 0.795)
    drop = round(100 * (accuracy["dynamic"] - accuracy["static"]), 6)
    slowdown = round(batch1_ms["static"] / batch1_ms["dynamic"] - 1, 6)
    growth = round(size_mb["static"] / size_mb["dynamic"] - 1, 6)
    measured = (f"static is {abs(drop):.2f} points {'less' if drop > 0 else 'more'} accurate than dynamic on "
                f"validation, {abs(slowdown):.1%} {'slower' if slowdown > 0 else 'faster'} at batch 1 and "
                f"{abs(growth):.1%} {'larger' if growth > 0 else 'smaller'} on disk; the limits are {max_drop_points} "
                f"points less accurate, {max_slowdown:.0%} slower and {max_growth:.0%} larger")
    # every limit missed, not only the first: a BiLSTM's static graph was both slower and larger
    missed = [limit for limit, over in (("accuracy", drop > max_drop_points), ("latency", slowdown > max_slowdown),
                                        ("size", growth > max_growth)) if over]
    if missed:
        binds = " and ".join(missed)
        return "dynamic", f"dynamic: {measured} ({binds} {'bind' if len(missed) > 1 else 'binds'})", binds
    return "static", f"static: {measured}", None


def compare_modes(folders: dict[str, Path], validation: pd.DataFrame, max_length: int, latency_texts: int,
                  max_drop_points: float, max_slowdown: float, max_growth: float) -> dict:
    """Score, time and weigh the dynamic and static INT8 models in folders (mode -> folder holding the INT8 file) on
    the validation split, and pick one: {"mode", "why", "binds", "validation_accuracy", "batch1_ms", "size_mb",
    "threads"}."""
    texts, labels = validation["text"].tolist(), validation["label"].to_numpy()
    threads = min(2, os.cpu_count() or 1)  # the compare stage's batch-1 figures are at 1 and 2 threads
    classifiers = {mode: load(ONNX_INT8, folders[mode], max_length, threads) for mode in MODES}
    accuracy = {mode: float(np.mean(predict(classifiers[mode], texts, SCORING_BATCH) == labels)) for mode in MODES}
    timed = texts[:latency_texts]
    timings = benchmark({mode: {threads: classifier} for mode, classifier in classifiers.items()}, timed,
                        min(WARMUP_CALLS, len(timed)), timed, [1], rounds=0, threads=threads)
    batch1_ms = {mode: round(timings[mode].batch1_ms_median, 4) for mode in MODES}
    size_mb = {mode: round((folders[mode] / ONNX_INT8.file).stat().st_size / 1e6, 4) for mode in MODES}
    mode, why, binds = decide(accuracy, batch1_ms, size_mb, max_drop_points, max_slowdown, max_growth)
    log.info("quantize.mode auto chose %s", why)
    return {"mode": mode, "why": why, "binds": binds,
            "validation_accuracy": {m: round(a, 6) for m, a in accuracy.items()},
            "batch1_ms": batch1_ms, "size_mb": size_mb, "threads": threads, "latency_texts": len(timed)}
