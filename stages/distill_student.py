"""Stage distill_student@S: build student S from the teacher and train it on labels plus the teacher's logits."""

import argparse
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed

from textslim.atomic import atomic_dir
from textslim.cli import run_stage
from textslim.data import read_prepared
from textslim.errors import TextslimError
from textslim.forms import write_student_record
from textslim.params import load_params
from textslim.students import build_student
from textslim.students.registry import check_recipes
from textslim.train.distributed import relaunch_under_torchrun
from textslim.train.loop import tokenize_frame, train_classifier
from textslim.train.transfer import augmented_texts, transfer_set, unlabelled_texts

log = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--strategy", required=True)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", required=True)
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--teacher-logits", required=True)
    parser.add_argument("--augmented", required=True, help="the augment stage's texts and logits")
    parser.add_argument("--unlabelled", required=True, help="the label_unlabelled stage's texts and logits")
    parser.add_argument("--out", required=True)
    parser.add_argument("--live-dir", required=True)
    args = parser.parse_args()

    params = load_params(args.params)
    check_recipes(params)
    if args.strategy not in params.distill.students:
        raise TextslimError(f"--strategy {args.strategy!r} is not in distill.students {list(params.distill.students)}")
    splits, labels = read_prepared(args.data)
    logits = {name: np.load(Path(args.teacher_logits) / f"{name}.npy") for name in ("train", "validation")}
    unlabelled = {"unlabelled": unlabelled_texts(args.unlabelled), "augmented": augmented_texts(args.augmented)}
    set_seed(params.distill.seed)
    teacher = AutoModelForSequenceClassification.from_pretrained(args.teacher)
    teacher_tokenizer = AutoTokenizer.from_pretrained(args.teacher)
    # checks the recipe's params (layer counts, LoRA targets, ...) before training
    build = build_student(args.strategy, teacher, teacher_tokenizer, splits, labels, params,
                          [text for texts, _ in unlabelled.values() for text in texts])
    del teacher  # kept alive only by a build whose intermediate-layer loss runs it in the training step
    log.info("student %s: %s", args.strategy, build.recipe)

    # The student reads raw text with its own tokenizer; the teacher's logits are per text, row-aligned.
    rows = build.train_rows if build.train_rows is not None else list(range(len(splits["train"])))
    transfer, transfer_logits = transfer_set(splits["train"].iloc[rows], logits["train"][rows], unlabelled)
    train = tokenize_frame(transfer, build.tokenizer, build.train.max_length, transfer_logits)
    validation = tokenize_frame(splits["validation"], build.tokenizer, build.train.max_length, logits["validation"])
    history = train_classifier(build.model, build.tokenizer, train, validation, build.train, params.distill.seed,
                               live_dir=Path(args.live_dir), loss_weights=build.loss, teacher=build.teacher,
                               layer_map=build.layer_map)
    student = build.model.merge_and_unload() if hasattr(build.model, "merge_and_unload") else build.model
    with atomic_dir(args.out) as tmp:
        student.save_pretrained(tmp)
        build.tokenizer.save_pretrained(tmp)
        counts = {key: len(unlabelled[name][0]) for name, key in (("unlabelled", "transfer_unlabelled_texts"),
                                                                 ("augmented", "augmented_texts"))
                  if len(unlabelled[name][0])}
        description = {"strategy": args.strategy, **build.recipe, "max_length": build.train.max_length, **counts,
                       "loss": asdict(build.loss), "history": history}
        write_student_record(tmp, description)
    best = max(history, key=lambda e: e["eval_macro_f1"])
    log.info("student %s: validation accuracy %.4f, macro-F1 %.4f", args.strategy, best["eval_accuracy"],
             best["eval_macro_f1"])


if __name__ == "__main__":
    run_stage(main, relaunch=relaunch_under_torchrun)  # TEXTSLIM_NPROC > 1: data-parallel under torchrun
