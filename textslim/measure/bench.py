"""Latency and throughput of many model variants, measured interleaved in one process.

Variants take turns in blocks of texts, the order rotating each round, so a slow spell of a shared machine hits
all of them alike and ratios hold when absolute numbers drift. Blocks, not single texts: ONNX Runtime's and
PyTorch's idle threads spin for a while after each call, and a variant timed right after another's call pays for
that spinning (measured here: the teacher's batch-1 time doubled when alternated text by text with an ORT model).
Each block starts with a few untimed calls that absorb it.
"""

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from textslim.inference import TextClassifier, batched_logits

log = logging.getLogger(__name__)
SETTLE_CALLS = 2  # untimed calls at the start of each block


@dataclass
class Timing:
    batch1_ms_median: float  # at the main thread count
    batch1_ms_p95: float
    texts_per_s: float  # at the largest batch size
    batch1_ms_by_threads: dict[int, float] = field(default_factory=dict)
    texts_per_s_by_batch: dict[int, float] = field(default_factory=dict)


def _rotated(items: list, shift: int) -> list:
    shift %= max(len(items), 1)
    return items[shift:] + items[:shift]


def benchmark(classifiers: dict[str, dict[int, TextClassifier]], texts: list[str], warmup: int,
              throughput_texts: list[str], batch_sizes: list[int], rounds: int, threads: int,
              block: int = 20) -> dict[str, Timing]:
    """Batch-1 median/p95 over `texts` at each thread count, and texts/s at each batch size with `threads`.

    classifiers: variant -> thread count -> a classifier running with that many threads (ONNX Runtime fixes them per
    session; PyTorch's are set before each block, the same object may serve every count). Every (variant, threads)
    pair takes its turn in the same rotation. Throughput at batch 1 is 1000 / the mean batch-1 time at `threads`:
    texts one after another is exactly what the latency loop times.
    """
    pairs = [(name, n) for name, by_threads in classifiers.items() for n in by_threads]
    for name, n in pairs:  # warm-up: first calls allocate, pick kernels and fill caches
        torch.set_num_threads(n)
        for text in texts[:warmup]:
            classifiers[name][n].logits([text])
    samples: dict[tuple[str, int], list[float]] = {pair: [] for pair in pairs}
    for r, start in enumerate(range(0, len(texts), block)):
        chunk = texts[start:start + block]
        for name, n in _rotated(pairs, r):
            torch.set_num_threads(n)
            classifier = classifiers[name][n]
            for text in chunk[:SETTLE_CALLS]:
                classifier.logits([text])
            for text in chunk:
                began = time.perf_counter()
                classifier.logits([text])
                samples[name, n].append((time.perf_counter() - began) * 1000)
    log.info("batch-1 latency measured on %d texts x %d variants x threads %s, in blocks of %d", len(texts),
             len(classifiers), sorted({n for _, n in pairs}), block)
    torch.set_num_threads(threads)
    rates: dict[tuple[str, int], list[float]] = {(name, b): [] for name in classifiers for b in batch_sizes if b > 1}
    for r in range(rounds):
        for name, batch_size in _rotated(list(rates), r):
            classifier = classifiers[name][threads]
            classifier.logits(throughput_texts[:batch_size])  # settle, as above
            began = time.perf_counter()
            batched_logits(classifier, throughput_texts, batch_size)
            rates[name, batch_size].append(len(throughput_texts) / (time.perf_counter() - began))
    log.info("throughput measured: %d rounds of %d texts in batches of %s", rounds, len(throughput_texts),
             batch_sizes)
    timings = {}
    for name in classifiers:
        main = samples[name, threads]
        by_batch = {b: (1000 / float(np.mean(main)) if b == 1 else float(np.median(rates[name, b])))
                    for b in batch_sizes}
        timings[name] = Timing(batch1_ms_median=float(np.median(main)),
                               batch1_ms_p95=float(np.percentile(main, 95)),
                               texts_per_s=by_batch[max(batch_sizes)],
                               batch1_ms_by_threads={n: float(np.median(samples[name, n]))
                                                     for n in classifiers[name]},
                               texts_per_s_by_batch=by_batch)
    return timings
