"""Latency and throughput of many model variants, measured interleaved in one process.

Interleaving (each text is run through every variant in turn, the order rotating) means a slow spell of a
shared machine hits all variants alike, so ratios between them hold even when absolute numbers drift.
"""

import logging
import time
from dataclasses import dataclass

import numpy as np

from textslim.inference import TextClassifier, batched_logits

log = logging.getLogger(__name__)


@dataclass
class Timing:
    batch1_ms_median: float
    batch1_ms_p95: float
    texts_per_s: float


def _rotated(items: list, shift: int) -> list:
    shift %= max(len(items), 1)
    return items[shift:] + items[:shift]


def benchmark(classifiers: dict[str, TextClassifier], texts: list[str], warmup: int, throughput_texts: list[str],
              batch_size: int, rounds: int) -> dict[str, Timing]:
    """Batch-1 median/p95 over `texts` and batched texts/s (median over rounds) for every classifier."""
    names = list(classifiers)
    for name in names:  # warm-up: first calls allocate, JIT-pick kernels and fill caches
        for text in texts[:warmup]:
            classifiers[name].logits([text])
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i, text in enumerate(texts):
        for name in _rotated(names, i):
            start = time.perf_counter()
            classifiers[name].logits([text])
            samples[name].append((time.perf_counter() - start) * 1000)
    log.info("batch-1 latency measured on %d texts x %d variants", len(texts), len(names))
    rates: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in _rotated(names, r):
            start = time.perf_counter()
            batched_logits(classifiers[name], throughput_texts, batch_size)
            rates[name].append(len(throughput_texts) / (time.perf_counter() - start))
    log.info("throughput measured: %d rounds of %d texts in batches of %d", rounds, len(throughput_texts), batch_size)
    return {name: Timing(batch1_ms_median=float(np.median(samples[name])),
                         batch1_ms_p95=float(np.percentile(samples[name], 95)),
                         texts_per_s=float(np.median(rates[name]))) for name in names}
