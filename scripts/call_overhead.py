"""The per-call overhead that is ours, step by step (issue 23 part 4): the INT8 models as the pipeline wrote them,
each opened several ways and timed interleaved in one process (textslim.measure.bench), against the arithmetic
floor at this CPU's measured GEMM peaks (textslim.measure.roofline).

Steps, each with the one before it:
- `hf-call`: inputs from the HF tokenizer call (what every classifier did before raw_encoder);
- `raw-encode`: inputs straight from the Rust tokenizer (textslim.inference.raw_encoder, today's default);
- `io-binding`: inputs bound to the session and the output read back through ONNX Runtime's IO binding;
- `no-spinning`: idle pool threads sleep after each call (the server's setting: cores left for its event loop).
Each at 1 and 2 intra-op threads at batch 1 (threads per batch size), and batch 32 with every core. Every step must
give the same logits as `hf-call` on the latency texts: checked, and the largest difference recorded.

    python scripts/call_overhead.py --chains teacher spread.heavy first.heavy --out reports/call-overhead.md \\
        --metrics metrics/call-overhead.json
"""

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from textslim.atomic import atomic_file, write_json
from textslim.cpu import describe_cpu
from textslim.data import read_prepared
from textslim.forms import ONNX_INT8, PRUNED, TEACHER, model_folder, read_student_record
from textslim.inference import OnnxClassifier, graph_inputs
from textslim.measure.bench import benchmark
from textslim.measure.roofline import floor_ms, matmul_peaks, median_tokens, tokenizer_ms, work_per_text

log = logging.getLogger("call_overhead")
STEPS = ("hf-call", "raw-encode", "io-binding", "no-spinning")
THROUGHPUT_TEXTS = 512


class IoBoundClassifier(OnnxClassifier):
    """OnnxClassifier whose session call goes through ONNX Runtime's IO binding (inputs bound in place, the output
    allocated by the session and copied out once)."""

    def _forward(self, batch) -> np.ndarray:
        binding = self.session.io_binding()
        for name, array in graph_inputs(batch, self.input_names).items():
            binding.bind_cpu_input(name, np.ascontiguousarray(array))
        binding.bind_output("logits")
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]


def open_step(step: str, folder: Path, max_length: int, threads: int) -> OnnxClassifier:
    """The chain's INT8 model opened as `step` says (each step keeps the ones before it)."""
    kind = OnnxClassifier if STEPS.index(step) < STEPS.index("io-binding") else IoBoundClassifier
    classifier = kind(folder, ONNX_INT8.file, max_length, threads, spinning=step != "no-spinning")
    classifier.raw_encoding = step != "hf-call"
    return classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chains", nargs="+", required=True, help="teacher and/or compression chains (spread.heavy)")
    parser.add_argument("--models", default="models", type=Path)
    parser.add_argument("--data", default="data/prepared")
    parser.add_argument("--latency-texts", type=int, default=300)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--metrics", required=True, type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    started = time.monotonic()

    texts = read_prepared(args.data)[0]["test"]["text"].tolist()
    latency_texts, cpu, threads = texts[:args.latency_texts], describe_cpu(), torch.get_num_threads()
    quantized = json.loads((model_folder(args.models, ONNX_INT8, None) / "quantize.json").read_text())
    peaks = matmul_peaks(threads, operands=quantized)
    thread_counts = sorted({1, threads})
    classifiers, floors, tokenize_ms, differences = {}, {}, {}, {}
    for chain in args.chains:
        student = None if chain == "teacher" else chain
        folder = model_folder(args.models, ONNX_INT8, student)
        max_length = read_student_record(folder)["max_length"]
        for step in STEPS:
            classifiers[chain, step] = {n: open_step(step, folder, max_length, n) for n in thread_counts}
        reference = classifiers[chain, STEPS[0]][threads]
        torch_dir = model_folder(args.models, TEACHER if student is None else PRUNED, student)
        floors[chain] = floor_ms(work_per_text(torch_dir, median_tokens(reference.tokenizer, texts, max_length)),
                                 peaks, int8=True)
        expected = np.concatenate([reference.logits([text]) for text in latency_texts])
        for step in STEPS:
            classifier = classifiers[chain, step][threads]
            got = np.concatenate([classifier.logits([text]) for text in latency_texts])
            differences[chain, step] = float(np.abs(got - expected).max())
            if not np.array_equal(got.argmax(axis=1), expected.argmax(axis=1)):
                raise SystemExit(f"{chain} {step}: predictions differ from {STEPS[0]}'s; its timing would mislead")
            tokenize_ms[chain, step] = tokenizer_ms(classifier, latency_texts)
    timings = benchmark(classifiers, latency_texts, warmup=20, throughput_texts=texts[:THROUGHPUT_TEXTS],
                        batch_sizes=[1, 32], rounds=3, threads=threads)
    rows = []
    for (chain, step), timing in timings.items():
        by_threads = timing.batch1_ms_by_threads
        best = min(by_threads, key=by_threads.get)
        batch32 = 1e3 / timing.texts_per_s_by_batch[32]
        rows.append({"model": f"{chain}-int8", "step": step, "tokenizer_ms": tokenize_ms[chain, step],
                     **{f"batch1_ms_{n}_threads": by_threads[n] for n in thread_counts},
                     "batch1_best_threads": best, "batch1_vs_floor": by_threads[best] / floors[chain],
                     "batch32_ms_per_text": batch32, "batch32_vs_floor": batch32 / floors[chain],
                     "floor_ms": floors[chain], "max_logit_difference": differences[chain, step]})
    write_report(args, rows, cpu, threads, peaks, (time.monotonic() - started) / 60)


def write_report(args, rows: list[dict], cpu: dict, threads: int, peaks, minutes: float) -> None:
    import onnxruntime
    import tokenizers

    frame = pd.DataFrame(rows)
    shown = frame.copy()
    for column in shown.columns:
        if column.endswith("_ms") or "_ms_" in column:
            shown[column] = shown[column].map(lambda v: f"{v:.3f}")
        elif column.endswith("vs_floor"):
            shown[column] = shown[column].map(lambda v: f"{v:.1f}×")
    shown["max_logit_difference"] = frame["max_logit_difference"].map(lambda v: f"{v:.1e}")
    lines = [
        "# The per-call overhead that is ours, step by step",
        "",
        f"`python scripts/call_overhead.py --chains {' '.join(args.chains)}` ({minutes:.1f} min): each chain's INT8 "
        f"model as the pipeline wrote it, opened once per step and thread count, every one timed interleaved in one "
        f"process (batch 1: median over {args.latency_texts} test texts, tokenizer included; batch 32: median of 3 "
        f"rounds over {THROUGHPUT_TEXTS} texts, per text). CPU: {cpu['model']}, int8 path `{cpu['int8_path']}`, "
        f"{threads} threads for batch 32. onnxruntime {onnxruntime.__version__}, tokenizers {tokenizers.__version__}.",
        "",
        "Steps, each keeping the ones before: `hf-call`, inputs from the HF tokenizer call (before); `raw-encode`, "
        "straight from the Rust tokenizer (textslim.inference.raw_encoder, now the default); `io-binding`, ONNX "
        "Runtime's IO binding; `no-spinning`, idle pool threads sleep after a call (the server's setting). "
        f"Floor: the model's arithmetic at this CPU's measured GEMM peaks (int8 {peaks.ort_int8} GOP/s on "
        f"{peaks.int8_operands}, fp32 {peaks.fp32} GFLOP/s). Every step's predictions equal `hf-call`'s; the "
        "largest logit difference is shown.",
        "",
        shown.to_markdown(index=False),
        "",
    ]
    with atomic_file(args.out) as tmp:
        Path(tmp).write_text("\n".join(lines))
    write_json(args.metrics, {"cpu": cpu, "threads": threads, "minutes": round(minutes, 1), "rows": rows})
    log.info("wrote %s and %s", args.out, args.metrics)


if __name__ == "__main__":
    main()
