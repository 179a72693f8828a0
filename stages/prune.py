"""Stage prune@S: global L1 magnitude pruning of the student's encoder Linear weights."""

import argparse
import logging
import shutil
from pathlib import Path

from transformers import AutoModelForSequenceClassification, AutoTokenizer

from textslim.atomic import atomic_dir, write_json
from textslim.cli import run_stage
from textslim.evaluation import STUDENT_FILE
from textslim.params import load_params
from textslim.prune import global_magnitude_prune

log = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    amount = load_params(args.params).prune.amount
    model = AutoModelForSequenceClassification.from_pretrained(args.model)
    report = global_magnitude_prune(model, amount)
    with atomic_dir(args.out) as tmp:
        model.save_pretrained(tmp)
        AutoTokenizer.from_pretrained(args.model).save_pretrained(tmp)
        shutil.copy(Path(args.model) / STUDENT_FILE, tmp / STUDENT_FILE)
        write_json(tmp / "sparsity.json", {"amount": amount, **report})
    log.info("pruned %s: amount %.2f, encoder Linear sparsity %.4f, whole-model sparsity %.4f", args.model, amount,
             report["linear_sparsity"], report["model_sparsity"])


if __name__ == "__main__":
    run_stage(main)
