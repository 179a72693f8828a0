"""Stage finetune_teacher: fine-tune the teacher (or take the user's fine-tuned one as it is), save it with its labels
in the data's order, and write its logits once for every student."""

import argparse
import logging
from pathlib import Path

import numpy as np
from transformers import set_seed

from textslim.atomic import atomic_dir, write_json
from textslim.cli import run_stage
from textslim.data import read_prepared
from textslim.forms import write_student_record
from textslim.inference import TorchClassifier, batched_logits
from textslim.measure.evaluation import evaluate_classifier, model_size
from textslim.params import load_params
from textslim.train.distributed import one_process_only, relaunch_under_torchrun
from textslim.train.loop import tokenize_frame, train_classifier
from textslim.train.teacher import hub_revision, load_teacher, setfit_teacher, write_untrained_curves

log = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", required=True)
    parser.add_argument("--model-out", required=True)
    parser.add_argument("--logits-out", required=True)
    parser.add_argument("--metrics-out", required=True)
    parser.add_argument("--live-dir", required=True)
    args = parser.parse_args()

    params = load_params(args.params)
    cfg = params.teacher
    if cfg.finetune and cfg.recipe == "finetune":
        relaunch_under_torchrun()  # TEXTSLIM_NPROC > 1: data-parallel fine-tuning; returns in one process
    else:  # used as it is, or SetFit's own trainer: nothing for DDP to share
        one_process_only(f"teacher.recipe {cfg.recipe} with teacher.finetune {str(cfg.finetune).lower()}")
    splits, labels = read_prepared(args.data)
    set_seed(params.seed)
    history, extra, no_curves = [], {}, None
    if cfg.recipe == "setfit":
        model, tokenizer, extra = setfit_teacher(cfg, splits["train"], labels, params.seed)
        no_curves = "trained by SetFit (contrastive pairs, then the head): no epoch curves"
    else:
        model, tokenizer = load_teacher(cfg, labels)
        if cfg.finetune:
            train = tokenize_frame(splits["train"], tokenizer, cfg.max_length)
            validation = tokenize_frame(splits["validation"], tokenizer, cfg.max_length)
            history = train_classifier(model, tokenizer, train, validation, cfg, params.seed,
                                       live_dir=Path(args.live_dir))
        else:
            log.info("teacher.finetune: false: %s is used as it is, no training step", cfg.model)
            no_curves = "not fine-tuned here: the model is used as it is"
    described = {"recipe": cfg.recipe, "model": cfg.model, "revision": hub_revision(model),
                 "finetuned": cfg.finetune, **extra}

    with atomic_dir(args.model_out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        # The same description a student carries, so export, quantize and evaluate treat the teacher like one.
        write_student_record(tmp, {**described, "recipe": "teacher", "teacher_recipe": cfg.recipe,
                                   "max_length": cfg.max_length, "history": history})
    classifier = TorchClassifier(args.model_out, cfg.max_length)
    # The unlabelled transfer texts are labelled by their own stage (label_unlabelled): a new corpus never retrains
    # the teacher.
    logits = {name: batched_logits(classifier, splits[name]["text"].tolist(), batch_size=128)
              for name in ("train", "validation")}
    with atomic_dir(args.logits_out) as tmp:
        for name, scores in logits.items():
            np.save(tmp / f"{name}.npy", scores.astype(np.float32))
    if no_curves is not None:
        write_untrained_curves(args.live_dir, logits["validation"], splits["validation"]["label"].to_numpy(),
                               no_curves)
    test = evaluate_classifier(classifier, splits["test"], labels, batch_size=128)
    write_json(args.metrics_out, {**described, **model_size(args.model_out), "test": test, "history": history,
                                  **({"no_curves": no_curves} if no_curves else {})})
    log.info("teacher: test accuracy %.4f, macro-F1 %.4f", test["accuracy"], test["macro_f1"])


if __name__ == "__main__":
    run_stage(main)  # main relaunches itself under torchrun when TEXTSLIM_NPROC > 1 and there is training to share
