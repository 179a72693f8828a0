"""Latency and throughput of many model variants, measured interleaved in one process.

Variants take turns in blocks of texts, the order rotating each round, so a slow spell of a shared machine hits
all of them alike and ratios hold when absolute numbers drift. Blocks, not single texts: ONNX Runtime's and
PyTorch's idle threads spin for a while after each call, and a variant timed right after another's call pays for
that spinning (measured here: the teacher's batch-1 time doubled when alternated text by text with an ORT model).
Each block starts with a few untimed calls that absorb it.
"""

import logging
import time
from dataclasses import dataclass

import numpy as np

from textslim.inference import TextClassifier, batched_logits

log = logging.getLogger(__name__)
SETTLE_CALLS = 2  # untimed calls at the start of each block


@dataclass
class Timing:
    batch1_ms_median: float
    batch1_ms_p95: float
    texts_per_s: float


def _rotated(items: list, shift: int) -> list:
    shift %= max(len(items), 1)
    return items[shift:] + items[:shift]


def benchmark(classifiers: dict[str, TextClassifier], texts: list[str], warmup: int, throughput_texts: list[str],
              batch_size: int, rounds: int, block: int = 20) -> dict[str, Timing]:
    """Batch-1 median/p95 over `texts` and batched texts/s (median over rounds) for every classifier."""
    names = list(classifiers)
    for name in names:  # warm-up: first calls allocate, pick kernels and fill caches
        for text in texts[:warmup]:
            classifiers[name].logits([text])
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r, start in enumerate(range(0, len(texts), block)):
        chunk = texts[start:start + block]
        for name in _rotated(names, r):
            classifier = classifiers[name]
            for text in chunk[:SETTLE_CALLS]:
                classifier.logits([text])
            for text in chunk:
                began = time.perf_counter()
                classifier.logits([text])
                samples[name].append((time.perf_counter() - began) * 1000)
    log.info("batch-1 latency measured on %d texts x %d variants, in blocks of %d", len(texts), len(names), block)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in _rotated(names, r):
            classifiers[name].logits(throughput_texts[:batch_size])  # settle, as above
            began = time.perf_counter()
            batched_logits(classifiers[name], throughput_texts, batch_size)
            rates[name].append(len(throughput_texts) / (time.perf_counter() - began))
    log.info("throughput measured: %d rounds of %d texts in batches of %d", rounds, len(throughput_texts), batch_size)
    return {name: Timing(batch1_ms_median=float(np.median(samples[name])),
                         batch1_ms_p95=float(np.percentile(samples[name], 95)),
                         texts_per_s=float(np.median(rates[name]))) for name in names}
