"""Stage distill_student@S: build student S from the teacher and train it on labels plus the teacher's logits."""

import argparse
import json
import logging
from pathlib import Path

import numpy as np
from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed

from textslim.atomic import atomic_dir
from textslim.cli import run_stage
from textslim.data import read_prepared
from textslim.distill import tokenize_frame, train_classifier
from textslim.errors import TextslimError
from textslim.params import load_params
from textslim.students import build_student

log = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--strategy", required=True)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", default="data/prepared")
    parser.add_argument("--teacher", default="models/teacher")
    parser.add_argument("--teacher-logits", default="data/teacher_logits")
    parser.add_argument("--out", required=True)
    parser.add_argument("--live-dir", required=True)
    args = parser.parse_args()

    params = load_params(args.params)
    cfg = params.distill
    if args.strategy not in cfg.students:
        raise TextslimError(f"--strategy {args.strategy!r} is not in distill.students {list(cfg.students)}")
    splits, _ = read_prepared(args.data)
    logits = {name: np.load(Path(args.teacher_logits) / f"{name}.npy") for name in ("train", "validation")}
    set_seed(params.seed)
    teacher = AutoModelForSequenceClassification.from_pretrained(args.teacher)
    tokenizer = AutoTokenizer.from_pretrained(args.teacher)
    student, recipe = build_student(args.strategy, teacher, cfg)  # validates num_layers before any training
    del teacher
    log.info("student %s: %s", args.strategy, recipe)

    train = tokenize_frame(splits["train"], tokenizer, cfg.max_length, logits["train"])
    validation = tokenize_frame(splits["validation"], tokenizer, cfg.max_length, logits["validation"])
    history = train_classifier(student, tokenizer, train, validation, cfg, params.seed,
                               live_dir=Path(args.live_dir), alpha=cfg.alpha, temperature=cfg.temperature)
    with atomic_dir(args.out) as tmp:
        student.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "textslim_student.json").write_text(json.dumps({"strategy": args.strategy, **recipe,
                                                                "history": history}, indent=2) + "\n")
    best = max(history, key=lambda e: e["eval_macro_f1"])
    log.info("student %s: validation accuracy %.4f, macro-F1 %.4f", args.strategy, best["eval_accuracy"],
             best["eval_macro_f1"])


if __name__ == "__main__":
    run_stage(main)
