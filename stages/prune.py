"""Stage prune@S: trim the student's vocabulary, prune it (structured by default), and let it recover by KD."""

import argparse
import logging
from pathlib import Path

import numpy as np
from transformers import AutoTokenizer, set_seed

from textslim.atomic import atomic_dir, write_json
from textslim.cli import run_stage
from textslim.compress.student import compress_student
from textslim.data import read_prepared
from textslim.distill import LossWeights
from textslim.forms import SIDE_REPORTS, read_student_record, write_student_record
from textslim.inference import load_torch_model
from textslim.params import load_params

log = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--teacher-logits", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    params = load_params(args.params)
    cfg = params.prune
    splits, _ = read_prepared(args.data)
    logits = {name: np.load(Path(args.teacher_logits) / f"{name}.npy") for name in ("train", "validation")}
    set_seed(params.distill.seed)
    model = load_torch_model(args.model)
    max_length = read_student_record(args.model)["max_length"]
    kd = LossWeights.from_alpha(params.distill.alpha, params.distill.temperature)
    model, tokenizer, report = compress_student(model, AutoTokenizer.from_pretrained(args.model), splits, logits,
                                                cfg, kd, max_length, params.distill.seed)
    with atomic_dir(args.out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_student_record(tmp, read_student_record(args.model))
        write_json(tmp / SIDE_REPORTS["sparsity"], report)
    log.info("pruned %s (%s): %d -> %d parameters, encoder Linear sparsity %.4f", args.model, report["method"],
             report["params_before"], report["params"],
             report["linear_sparsity"])


if __name__ == "__main__":
    run_stage(main)
