"""Quantize one exported student per-tensor, per-channel and static; compare accuracy, size and latency side by side.

The pipeline quantizes with the scheme `quantize.per_channel` names. This script measures what per-channel weights buy
(accuracy) and cost (latency) against per-tensor on the same graph, on the test split, with latency timed interleaved
in one process like `compare` does; it is how that param's default was chosen. It also measures static INT8
(activation ranges calibrated once on training texts, optimum's minmax calibration): dynamic INT8 computes each
activation's scale per call, so a text's prediction can change with the texts batched with it; static scales cannot.
For every scheme: accuracy at batch 64 and at batch 1, and the test predictions that differ between the two.

    python scripts/int8_schemes.py --onnx models/onnx/spread.heavy --out reports/int8-schemes.md

With --presets, it instead quantizes every --onnx model with each preset (dynamic, per-channel) and times them all
interleaved in one process: the table `quantize.preset: auto` is chosen from, per int8 path (textslim/cpu.py).
A preset followed by `+reduce_range` quantizes weights to 7 bits. --modes dynamic static adds each preset's static
INT8 (ranges from 256 training texts): with the predictions that change between batch 1 and batch 64, the table the
default `quantize.mode` is chosen from.

    python scripts/int8_schemes.py --presets avx512_vnni avx2 avx512+reduce_range \
        --onnx models/onnx/teacher models/onnx/{first,spread,lora,setfit,lstm}.heavy --out reports/int8-portability.md
"""

import argparse
import itertools
import tempfile
from pathlib import Path

import pandas as pd
import torch

from textslim.compress.quantize import (
    operand_types,
    operands_label,
    quantization_config,
    quantize_folder,
    resolve_preset,
)
from textslim.cpu import describe_cpu
from textslim.data import read_prepared
from textslim.forms import ONNX_FP32, ONNX_INT8, read_student_record
from textslim.measure.bench import benchmark
from textslim.measure.evaluation import at_batch_one, predict
from textslim.measure.significance import accuracy_difference_interval
from textslim.measure.study import markdown, measure, variant
from textslim.params import QuantizeParams

SCHEMES = {"per-tensor": False, "per-channel": True}
CALIBRATION_TEXTS = 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--onnx", required=True, type=Path, nargs="+",
                        help="export_onnx output directories (model.onnx); one unless --presets")
    parser.add_argument("--presets", nargs="+", help="compare these presets (PRESET or PRESET+reduce_range) instead")
    parser.add_argument("--modes", nargs="+", default=["dynamic"], choices=QuantizeParams.MODES,
                        help="with --presets: the quantization modes of each preset")
    parser.add_argument("--data", default="data/prepared")
    parser.add_argument("--preset", default="auto")
    parser.add_argument("--latency-texts", type=int, default=200)
    parser.add_argument("--label", help="what to call the model in the report (default: the --onnx path)")
    parser.add_argument("--out", required=True, type=Path, help="the markdown report to write")
    args = parser.parse_args()
    if args.presets:
        return compare_presets(args)
    if len(args.onnx) > 1:
        parser.error("several --onnx directories need --presets")
    args.onnx = args.onnx[0]

    splits, labels = read_prepared(args.data)
    test = splits["test"]
    max_length = read_student_record(args.onnx)["max_length"]
    preset = resolve_preset(args.preset)
    with tempfile.TemporaryDirectory() as tmp:
        variants = {"fp32": variant(ONNX_FP32, args.onnx, max_length)}
        for name, per_channel in SCHEMES.items():
            out = Path(tmp) / name
            quantize_folder(args.onnx, out, QuantizeParams(preset=preset, per_channel=per_channel, mode="dynamic"))
            variants[name] = variant(ONNX_INT8, out, max_length)
        static = QuantizeParams(preset=preset, per_channel=True, mode="static", calibration_texts=CALIBRATION_TEXTS)
        quantize_folder(args.onnx, Path(tmp) / "static", static, splits["train"]["text"].tolist(), seed=0)
        variants["static (per-channel)"] = variant(ONNX_INT8, Path(tmp) / "static", max_length)
        frame = measure(variants, test, labels, args.latency_texts)
        alone = {}
        for name, chosen in variants.items():  # batch 1 against the evaluate stage's batch of 64
            batched = predict(chosen.classifier, test["text"].tolist(), 64)
            alone[name] = at_batch_one(chosen.classifier, test, labels, batched)
        table = markdown(frame)
        flips = pd.DataFrame([{"variant": name, "accuracy, batch 64": f"{100 * acc:.2f}",
                               "accuracy, batch 1": f"{100 * alone[name]['accuracy_batch1']:.2f}",
                               "predictions that differ": alone[name]["flips_vs_batched"]}
                              for name, acc in zip(frame["variant"], frame["accuracy"])])
        table += "\n\n" + flips.to_markdown(index=False, disable_numparse=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    label = args.label or f"`{args.onnx}`"
    args.out.write_text(f"# INT8 schemes for {label}\n\nDynamic quantization (static where named), preset `{preset}`, "
                        f"test split ({len(test)} texts); latency at batch 1 over {args.latency_texts} test texts, "
                        f"the variants interleaved in one process. Static: minmax ranges from {CALIBRATION_TEXTS} "
                        f"training texts.\n\n{table}\n")
    print(table)


def _preset_spec(spec: str) -> tuple[str, bool]:
    """"avx2" -> ("avx2", False); "avx512+reduce_range" -> ("avx512", True)."""
    preset, _, option = spec.partition("+")
    if option not in ("", "reduce_range"):
        raise SystemExit(f"--presets: {spec!r}: the only option is +reduce_range")
    return preset, option == "reduce_range"


def compare_presets(args: argparse.Namespace) -> None:
    """Every model x preset, with its fp32 graph: accuracy, agreement with fp32 and the paired interval of the
    accuracy difference to it, batch-1 and batch-32 latency, all timed interleaved in one process."""
    splits, labels = read_prepared(args.data)
    test, cpu = splits["test"], describe_cpu()
    texts, truth = test["text"].tolist(), test["label"].to_numpy()
    specs = [_preset_spec(spec) for spec in args.presets]
    modes = args.modes
    train = splits["train"]["text"].tolist()
    rows, classifiers, threads = [], {}, torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        variants = {}
        for onnx_dir in args.onnx:
            max_length = read_student_record(onnx_dir)["max_length"]
            variants[onnx_dir.name, "fp32", "float32"] = variant(ONNX_FP32, onnx_dir, max_length)
            for (preset, reduce_range), mode in itertools.product(specs, modes):
                out = Path(tmp) / onnx_dir.name / f"{preset}-{reduce_range}-{mode}"
                cfg = QuantizeParams(preset=preset, per_channel=True, mode=mode, calibration_texts=CALIBRATION_TEXTS)
                quantize_folder(onnx_dir, out, cfg, train, seed=0, reduce_range=reduce_range)
                types = operands_label(operand_types(quantization_config(preset, reduce_range=reduce_range)))
                name = preset + ("+reduce_range" if reduce_range else "") + (" static" if mode == "static" else "")
                variants[onnx_dir.name, name, types] = variant(ONNX_INT8, out, max_length)
        classifiers = {key: {threads: v.classifier} for key, v in variants.items()}
        timings = benchmark(classifiers, texts[:args.latency_texts], warmup=20, throughput_texts=texts[:512],
                            batch_sizes=[1, 32], rounds=3, threads=threads)
        fp32 = {}
        for (model, preset, types), chosen in variants.items():
            predictions = predict(chosen.classifier, texts, batch_size=64)
            reference = fp32.setdefault(model, predictions)
            low, high = accuracy_difference_interval(truth, reference, predictions)
            timing = timings[model, preset, types]
            alone = at_batch_one(chosen.classifier, test, labels, predictions)
            rows.append({"model": model, "preset": preset, "activations x weights": types,
                         "accuracy": f"{100 * (predictions == truth).mean():.2f}",
                         "agrees with fp32": f"{100 * (predictions == reference).mean():.2f}%",
                         "Δ vs fp32, 95% interval": f"{100 * low:+.2f} to {100 * high:+.2f}",
                         "batch-1 ms (p50)": f"{timing.batch1_ms_median:.2f}",
                         "changed at batch 1": str(alone["flips_vs_batched"]),
                         "batch-32 ms per text": f"{1e3 / timing.texts_per_s_by_batch[32]:.3f}"})
    table = pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        f"# INT8 presets on {cpu['model']} (int8 path `{cpu['int8_path']}`)\n\n"
        f"{cpu['int8_path_means']}. Command: `python scripts/int8_schemes.py --presets {' '.join(args.presets)} "
        f"--modes {' '.join(modes)} --onnx {' '.join(str(d) for d in args.onnx)}`. INT8 with per-channel weight "
        f"scales, dynamic (static where named: minmax ranges from {CALIBRATION_TEXTS} training texts); test split "
        f"({len(test)} texts), predictions at batch 64 (changed at batch 1: those that differ when each text is "
        f"scored alone). Agreement and the paired bootstrap interval are against "
        f"the same model's fp32 ONNX graph. Latency: batch 1 over {args.latency_texts} test texts (median) and "
        f"batch 32 over 512 (median of 3 rounds), every variant interleaved in one process, {threads} threads.\n\n"
        f"{table}\n")
    print(table)


if __name__ == "__main__":
    main()
