"""What each compression step adds, for one student: distillation only, + intermediate-layer loss, + vocabulary
trimming, + structured pruning (with its recovery distillation), + INT8. Every step is exported to ONNX, so the
latency differences are the steps' and not the runtime's; all of them, the teacher and teacher-int8 are timed
interleaved in one process.

    python scripts/ablation.py --student models/students/spread --hidden-student /tmp/spread-hidden \\
        --out reports/ablation.md
"""

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from textslim.compress.deploy import deploy, export_and_quantize
from textslim.data import read_prepared
from textslim.evaluation import student_description
from textslim.inference import OnnxClassifier, TorchClassifier
from textslim.params import load_params
from textslim.study import Variant, markdown, measure


def _onnx(directory: Path, max_length: int, model_file: str = "model.onnx") -> Variant:
    return Variant(OnnxClassifier(directory, model_file, max_length), directory, model_file)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--student", required=True, type=Path, help="a distill_student output directory")
    parser.add_argument("--hidden-student", type=Path,
                        help="the same student distilled with the intermediate-layer loss (hidden_weight > 0)")
    parser.add_argument("--teacher", default="models/teacher", type=Path)
    parser.add_argument("--teacher-int8", default="models/quantized/teacher", type=Path)
    parser.add_argument("--data", default="data/prepared")
    parser.add_argument("--teacher-logits", default="data/teacher_logits", type=Path)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--latency-texts", type=int, default=200)
    parser.add_argument("--out", required=True, type=Path, help="the markdown report to write")
    args = parser.parse_args()

    params = load_params(args.params)
    splits, labels = read_prepared(args.data)
    logits = {name: np.load(args.teacher_logits / f"{name}.npy") for name in ("train", "validation")}
    length = student_description(args.student)["max_length"]
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        variants = {"teacher (PyTorch fp32)": Variant(TorchClassifier(args.teacher, length), args.teacher,
                                                      "model.safetensors"),
                    "teacher-int8": _onnx(args.teacher_int8, length, "model_quantized.onnx")}
        onnx, _ = export_and_quantize(args.student, scratch / "distilled", params)
        variants["distilled (KD on logits)"] = _onnx(onnx, length)
        base = args.student
        if args.hidden_student:
            onnx, _ = export_and_quantize(args.hidden_student, scratch / "hidden", params)
            variants["+ intermediate-layer loss"] = _onnx(onnx, length)
            base = args.hidden_student
        trimmed = deploy(base, scratch / "trimmed", replace(params.prune, method="none", vocabulary="training"),
                         params, splits, logits)
        variants["+ vocabulary trimming"] = _onnx(trimmed.onnx, length)
        pruned = deploy(base, scratch / "pruned", replace(params.prune, method="structured", vocabulary="training"),
                        params, splits, logits)
        variants["+ structured pruning and recovery"] = _onnx(pruned.onnx, length)
        variants["+ INT8"] = _onnx(pruned.int8, length, "model_quantized.onnx")
        table = markdown(measure(variants, splits["test"], labels, args.latency_texts))
    cfg = params.prune
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        f"# Ablation: what each step adds to `{args.student}`\n\nEach row adds one step to the row above it; every "
        "student row is an ONNX Runtime graph (fp32 until the INT8 row), so the latency differences are the steps'. "
        f"Structured pruning: heads -{cfg.head_fraction:.0%} (global ranking), FFN -{cfg.ffn_fraction:.0%}, "
        f"{cfg.recovery_epochs} epoch(s) of recovery distillation. Augmentation of the transfer set is not built "
        f"yet, so it has no row. Test split ({len(splits['test'])} texts); batch-1 latency over "
        f"{args.latency_texts} test texts, every row timed interleaved in one process.\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    main()
