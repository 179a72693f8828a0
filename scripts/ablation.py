"""What each compression step adds, for one student: distillation only, + intermediate-layer loss, + augmented
transfer set, + vocabulary trimming, + structured pruning (with its recovery distillation), + INT8. Every step is
exported to ONNX, so the latency differences are the steps' and not the runtime's; all of them, the teacher and
teacher-int8 are timed interleaved in one process.

    python scripts/ablation.py --student models/students/spread --hidden-student /tmp/spread-hidden \\
        --augmented-student /tmp/spread-augmented --out reports/ablation.md

Each optional student is the same recipe distilled again with that step switched on (and the steps above it); the
pruning rows start from the last of them.
"""

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

from textslim.compress.deploy import deploy, export_and_quantize
from textslim.forms import ONNX_FP32, ONNX_INT8
from textslim.measure.study import add_study_arguments, load_study, markdown, measure, variant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_study_arguments(parser)
    parser.add_argument("--hidden-student", type=Path,
                        help="the same student distilled with the intermediate-layer loss (hidden_weight > 0)")
    parser.add_argument("--augmented-student", type=Path,
                        help="the same student distilled with the augmented transfer set too (augment.size > 0)")
    args = parser.parse_args()

    study = load_study(args)
    params, length = study.params, study.max_length
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        variants = dict(study.references)
        onnx, _ = export_and_quantize(args.student, scratch / "distilled", params, study.splits)
        variants["distilled (KD on logits)"] = variant(ONNX_FP32, onnx, length)
        base = args.student
        if args.hidden_student:
            onnx, _ = export_and_quantize(args.hidden_student, scratch / "hidden", params, study.splits)
            variants["+ intermediate-layer loss"] = variant(ONNX_FP32, onnx, length)
            base = args.hidden_student
        if args.augmented_student:
            onnx, _ = export_and_quantize(args.augmented_student, scratch / "augmented", params, study.splits)
            variants["+ augmented transfer set"] = variant(ONNX_FP32, onnx, length)
            base = args.augmented_student
        trimmed = deploy(base, scratch / "trimmed", replace(params.prune, method="none", vocabulary="training"),
                         params, study.splits, study.teacher_logits)
        variants["+ vocabulary trimming"] = variant(ONNX_FP32, trimmed.onnx, length)
        pruned = deploy(base, scratch / "pruned", replace(params.prune, method="structured", vocabulary="training"),
                        params, study.splits, study.teacher_logits)
        variants["+ structured pruning and recovery"] = variant(ONNX_FP32, pruned.onnx, length)
        variants["+ INT8"] = variant(ONNX_INT8, pruned.int8, length)
        table = markdown(measure(variants, study.splits["test"], study.labels, args.latency_texts))
    cfg = params.prune
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        f"# Ablation: what each step adds to `{args.student}`\n\nEach row adds one step to the row above it; every "
        "student row is an ONNX Runtime graph (fp32 until the INT8 row), so the latency differences are the steps'. "
        f"Structured pruning: heads -{cfg.head_fraction:.0%} (global ranking), FFN -{cfg.ffn_fraction:.0%}, "
        f"{cfg.recovery_epochs} epoch(s) of recovery distillation. Rows that were not given a student "
        f"(--hidden-student, --augmented-student) are left out. Test split ({len(study.splits['test'])} texts); "
        "batch-1 latency over "
        f"{args.latency_texts} test texts, every row timed interleaved in one process.\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    main()
