"""Structured-pruning settings tried on one distilled student: INT8 accuracy, size and batch-1 latency of each.

Every setting goes through what the pipeline does after distillation (vocabulary trimming, head and FFN pruning,
recovery distillation, ONNX export, INT8), and every result is timed interleaved in one process with the teacher
and the teacher's own INT8 form, like `compare`. This is how prune's defaults were chosen, and it is the frontier
to show when a target is missed.

    python scripts/prune_frontier.py --student models/students/spread --setting 0.25,0.5 --setting 0.5,0.75 \\
        --out reports/prune-frontier.md

A setting is head_fraction,ffn_fraction, or any prune.* keys as key=value pairs (the rest from params.yaml):

    --setting head_fraction=0.5,ffn_fraction=0.75,recovery_epochs=3,recovery_hidden_weight=1
"""

import argparse
import tempfile
from dataclasses import fields, replace
from pathlib import Path

from textslim.compress.deploy import deploy
from textslim.compress.quantize import resolve_preset
from textslim.forms import ONNX_INT8
from textslim.measure.study import add_study_arguments, load_study, markdown, measure, variant
from textslim.params import PruneParams


def _setting(text: str) -> dict:
    """'0.5,0.75' (heads, FFN) or 'key=value,...' over PruneParams' fields, values cast to the field's type."""
    if "=" not in text:
        heads, ffn = (float(x) for x in text.split(","))
        return {"head_fraction": heads, "ffn_fraction": ffn}
    types = {f.name: str if f.default is None else type(f.default) for f in fields(PruneParams)
             if f.name != "method"}  # the frontier is of structured pruning
    setting = {}
    for pair in text.split(","):
        key, _, value = pair.partition("=")
        if key not in types:
            raise argparse.ArgumentTypeError(f"{key!r} is not a prune.* key ({', '.join(types)})")
        setting[key] = types[key](value)
    return setting


def _label(setting: dict) -> str:
    heads, ffn = setting.get("head_fraction"), setting.get("ffn_fraction")
    parts = [f"heads -{heads:.0%}" if heads is not None else None, f"FFN -{ffn:.0%}" if ffn is not None else None]
    parts += [f"{key.replace('_', ' ')} {value}" for key, value in setting.items()
              if key not in ("head_fraction", "ffn_fraction")]
    return ", ".join(p for p in parts if p)


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
        validation = []
        for i, setting in enumerate(args.setting):
            prune = replace(params.prune, method="structured", **setting)
            prune.validate()
            done = deploy(args.student, Path(scratch) / str(i), prune, params, study.splits, study.teacher_logits)
            label = f"{_label(setting)}, INT8"
            variants[label] = variant(ONNX_INT8, done.int8, study.max_length)
            best = max(done.report.get("recovery", [{}]), key=lambda e: e.get("eval_macro_f1", 0))
            if "eval_accuracy" in best:
                validation.append(f"- {label}: {100 * best['eval_accuracy']:.2f}% (PyTorch, the recovery's best "
                                  f"epoch)")
        table = markdown(measure(variants, study.splits["test"], study.labels, args.latency_texts))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        f"# Structured pruning settings on `{args.student}`\n\nEach setting: vocabulary trimmed to the training "
        f"texts, heads (ranked globally) and FFN neurons (per layer) removed, recovery distillation "
        f"({params.prune.recovery_epochs} epoch(s) unless the setting says otherwise), ONNX export, INT8 "
        f"(`{resolve_preset(params.quantize.preset)}`). Test split ({len(study.splits['test'])} texts); batch-1 "
        f"latency over {args.latency_texts} test texts, every "
        f"variant interleaved in one process.\n\n{table}\n\nValidation accuracy after recovery:\n\n"
        + "\n".join(validation) + "\n")
    print(table)


if __name__ == "__main__":
    main()
