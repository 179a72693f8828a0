"""Stage select: pick the model to deploy under the budget in params `select` (textslim.measure.selection), copy it
to the deploy folder as model.onnx beside its tokenizer and config (loadable by optimum's
ORTModelForSequenceClassification and by the server), and write what was picked and why: which limit binds, its test
accuracy and paired intervals."""

import argparse
import logging
import shutil
from pathlib import Path

from textslim.atomic import atomic_dir, read_json, write_json
from textslim.cli import run_stage
from textslim.errors import TextslimError
from textslim.forms import form_named, model_folder
from textslim.measure.selection import DEPLOYED, OBJECTIVES, deploy_record, select
from textslim.params import load_params

log = logging.getLogger(__name__)
DEPLOY_RECORD = "textslim_deploy.json"


def copy_model(source: Path, model_file: str, folder: Path) -> None:
    """Everything in the form's folder, its graph renamed to model.onnx. ONNX external data keeps its own name: the
    graph refers to it by that name."""
    for path in sorted(source.iterdir()):
        if path.is_file():
            shutil.copyfile(path, folder / (DEPLOYED.file if path.name == model_file else path.name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--summary", required=True, help="the compare stage's summary.json")
    parser.add_argument("--models", required=True, help="the models root, laid out as dvc.yaml writes it")
    parser.add_argument("--out", required=True, help="the deploy folder")
    parser.add_argument("--metrics-out", required=True)
    args = parser.parse_args()

    budget = load_params(args.params).select
    rows = read_json(args.summary)["variants"]
    selection = select(rows, budget)
    record = deploy_record(selection, budget, rows)
    pick = selection.pick
    if not selection.met:
        line = (f"nothing meets the budget ({record['budget']}); the closest is {pick['name']}, which misses: "
                f"{'; '.join(record['misses'])}")
        if budget.strict:
            raise TextslimError(f"{line} (select.strict: nothing deployed)")
        log.warning("%s. Deploying it anyway (select.strict: false).", line)
    form = form_named(pick["form"])
    source = model_folder(args.models, form, pick["student"])
    if not (source / form.file).is_file():
        raise TextslimError(f"{source / form.file} is missing: run the stages that write it first (dvc repro)")
    with atomic_dir(args.out) as tmp:
        copy_model(source, form.file, tmp)
        write_json(tmp / DEPLOY_RECORD, {key: record[key] for key in ("variant", "student", "form", "budget", "met")})
    write_json(args.metrics_out, record)
    binding, tie = record["binding"], record["tie"]
    log.info("deployed %s (%s, %.2f ms at batch 1, %.1f MB, validation accuracy %.2f%%) to %s%s%s", pick["name"],
             pick["form"], pick["batch1_ms_median"], pick["size_mb"], 100 * pick["validation_accuracy"], args.out,
             f"; more accurate on validation than {tie['variant']}, within select.tie_within of it" if tie else "",
             f"; {binding['next_better']} would be {OBJECTIVES[budget.objective][2]} but misses "
             f"{binding['misses'][0]}" if binding else "")


if __name__ == "__main__":
    run_stage(main)
