"""Structured-pruning settings tried on one distilled student: INT8 accuracy, size and batch-1 latency of each.

Every setting goes through what the pipeline does after distillation (vocabulary trimming, head and FFN pruning,
recovery distillation, ONNX export, INT8), and every result is timed interleaved in one process with the teacher
and the teacher's own INT8 form, like `compare`. This is how prune's defaults were chosen, and it is the frontier
to show when a target is missed.

    python scripts/prune_frontier.py --student models/students/spread --setting 0.25,0.5 --setting 0.5,0.75 \\
        --out reports/prune-frontier.md
"""

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from textslim.compress.deploy import deploy
from textslim.data import read_prepared
from textslim.evaluation import student_description
from textslim.inference import OnnxClassifier, TorchClassifier
from textslim.params import load_params
from textslim.quantize import resolve_preset
from textslim.study import Variant, markdown, measure


def _setting(text: str) -> tuple[float, float]:
    heads, ffn = (float(x) for x in text.split(","))
    return heads, ffn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--student", required=True, type=Path, help="a distill_student output directory")
    parser.add_argument("--teacher", default="models/teacher", type=Path)
    parser.add_argument("--teacher-int8", default="models/quantized/teacher", type=Path)
    parser.add_argument("--data", default="data/prepared")
    parser.add_argument("--teacher-logits", default="data/teacher_logits", type=Path)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--setting", action="append", type=_setting, required=True,
                        help="head_fraction,ffn_fraction (repeat the flag for more)")
    parser.add_argument("--latency-texts", type=int, default=200)
    parser.add_argument("--out", required=True, type=Path, help="the markdown report to write")
    args = parser.parse_args()

    params = load_params(args.params)
    splits, labels = read_prepared(args.data)
    logits = {name: np.load(args.teacher_logits / f"{name}.npy") for name in ("train", "validation")}
    max_length = student_description(args.student)["max_length"]
    with tempfile.TemporaryDirectory() as scratch:
        variants = {"teacher": Variant(TorchClassifier(args.teacher, max_length), args.teacher, "model.safetensors"),
                    "teacher-int8": Variant(OnnxClassifier(args.teacher_int8, "model_quantized.onnx", max_length),
                                            args.teacher_int8, "model_quantized.onnx")}
        for heads, ffn in args.setting:
            prune = replace(params.prune, method="structured", head_fraction=heads, ffn_fraction=ffn)
            done = deploy(args.student, Path(scratch) / f"{heads}-{ffn}", prune, params, splits, logits)
            variants[f"heads -{heads:.0%}, FFN -{ffn:.0%}, INT8"] = Variant(
                OnnxClassifier(done.int8, "model_quantized.onnx", max_length), done.int8, "model_quantized.onnx")
        table = markdown(measure(variants, splits["test"], labels, args.latency_texts))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        f"# Structured pruning settings on `{args.student}`\n\nEach setting: vocabulary trimmed to the training "
        f"texts, heads (ranked globally) and FFN neurons (per layer) removed, {params.prune.recovery_epochs} "
        f"epoch(s) of recovery distillation, ONNX export, INT8 (`{resolve_preset(params.quantize.preset)}`). Test "
        f"split ({len(splits['test'])} texts); batch-1 latency over {args.latency_texts} test texts, every variant "
        f"interleaved in one process.\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    main()
