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

from textslim.compress.deploy import deploy
from textslim.quantize import resolve_preset
from textslim.study import add_study_arguments, load_study, markdown, measure, onnx_variant


def _setting(text: str) -> tuple[float, float]:
    heads, ffn = (float(x) for x in text.split(","))
    return heads, ffn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_study_arguments(parser)
    parser.add_argument("--setting", action="append", type=_setting, required=True,
                        help="head_fraction,ffn_fraction (repeat the flag for more)")
    args = parser.parse_args()

    study = load_study(args)
    params = study.params
    with tempfile.TemporaryDirectory() as scratch:
        variants = dict(study.references)
        for heads, ffn in args.setting:
            prune = replace(params.prune, method="structured", head_fraction=heads, ffn_fraction=ffn)
            done = deploy(args.student, Path(scratch) / f"{heads}-{ffn}", prune, params, study.splits,
                          study.teacher_logits)
            variants[f"heads -{heads:.0%}, FFN -{ffn:.0%}, INT8"] = onnx_variant(done.int8, study.max_length,
                                                                                 "model_quantized.onnx")
        table = markdown(measure(variants, study.splits["test"], study.labels, args.latency_texts))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        f"# Structured pruning settings on `{args.student}`\n\nEach setting: vocabulary trimmed to the training "
        f"texts, heads (ranked globally) and FFN neurons (per layer) removed, {params.prune.recovery_epochs} "
        f"epoch(s) of recovery distillation, ONNX export, INT8 (`{resolve_preset(params.quantize.preset)}`). Test "
        f"split ({len(study.splits['test'])} texts); batch-1 latency over {args.latency_texts} test texts, every "
        f"variant interleaved in one process.\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    main()
