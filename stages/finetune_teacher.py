"""Stage finetune_teacher: fine-tune the teacher, save it, and write its logits once for every student."""

import argparse
import logging
from pathlib import Path

import numpy as np
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, set_seed

from textslim.assets import resolve_model
from textslim.atomic import atomic_dir, write_json
from textslim.cli import run_stage
from textslim.data import read_prepared
from textslim.forms import write_student_record
from textslim.inference import TorchClassifier, batched_logits
from textslim.measure.evaluation import evaluate_classifier, model_size
from textslim.params import load_params
from textslim.train.distributed import relaunch_under_torchrun
from textslim.train.loop import tokenize_frame, train_classifier

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
    splits, labels = read_prepared(args.data)
    source = resolve_model(cfg.model, key="teacher.model")
    set_seed(params.seed)
    tokenizer = AutoTokenizer.from_pretrained(source)
    config = AutoConfig.from_pretrained(source, num_labels=len(labels), id2label=dict(enumerate(labels)),
                                        label2id={name: i for i, name in enumerate(labels)})
    if hasattr(config, "classifier_dropout"):  # BERT-style heads; MPNet's head reuses hidden_dropout_prob
        config.classifier_dropout = cfg.head_dropout
    else:
        log.warning("teacher.head_dropout: %s heads have no separate dropout; using hidden_dropout_prob %.2f",
                    config.model_type, config.hidden_dropout_prob)
    model = AutoModelForSequenceClassification.from_pretrained(source, config=config)

    train = tokenize_frame(splits["train"], tokenizer, cfg.max_length)
    validation = tokenize_frame(splits["validation"], tokenizer, cfg.max_length)
    history = train_classifier(model, tokenizer, train, validation, cfg, params.seed, live_dir=Path(args.live_dir))

    with atomic_dir(args.model_out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        # The same description a student carries, so export, quantize and evaluate treat the teacher like one.
        write_student_record(tmp, {"recipe": "teacher", "model": cfg.model, "max_length": cfg.max_length,
                                   "history": history})
    classifier = TorchClassifier(args.model_out, cfg.max_length)
    with atomic_dir(args.logits_out) as tmp:
        for name in ("train", "validation"):
            logits = batched_logits(classifier, splits[name]["text"].tolist(), batch_size=128)
            np.save(tmp / f"{name}.npy", logits.astype(np.float32))
    test = evaluate_classifier(classifier, splits["test"], labels, batch_size=128)
    write_json(args.metrics_out, {"model": cfg.model, **model_size(args.model_out), "test": test,
                                  "history": history})
    log.info("teacher: test accuracy %.4f, macro-F1 %.4f", test["accuracy"], test["macro_f1"])


if __name__ == "__main__":
    run_stage(main, relaunch=relaunch_under_torchrun)  # TEXTSLIM_NPROC > 1: data-parallel under torchrun
