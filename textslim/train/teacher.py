"""The teacher as the user has it: a base encoder gets a fresh classification head; a fine-tuned classifier keeps its
own, its labels matched to the data's by name and its head's rows reordered so that row i scores the data's label i.
"""

import logging
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import f1_score
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, PretrainedConfig

from textslim.assets import resolve_model
from textslim.atomic import write_json
from textslim.errors import TextslimError
from textslim.params import TeacherParams

log = logging.getLogger(__name__)

_INDEX_NAME = re.compile(r"LABEL_[0-9]+")  # transformers' placeholder names: the labels go by index


def has_classifier_head(config: PretrainedConfig) -> bool:
    """Whether the saved model is a sequence classifier (a head to keep), not a bare encoder."""
    return any(name.endswith("ForSequenceClassification") for name in config.architectures or ())


def head_order(model_labels: list[str], data_labels: list[str], label_map: Mapping[str, str]) -> list[int] | None:
    """For each of the data's labels in id order, the model's output row that scores it; None when they cannot be
    matched. Names match case-insensitively after label_map's renames; LABEL_0-style names go by index."""
    unknown = sorted(set(label_map) - set(model_labels))
    if unknown:
        raise TextslimError(f"teacher.label_map: {unknown[0]!r} is not one of the model's labels {model_labels}")
    if len(model_labels) != len(data_labels):
        return None
    if all(_INDEX_NAME.fullmatch(name) for name in model_labels) and not label_map:
        log.info("teacher labels %s are placeholders: taken by index, in the data's order %s", model_labels,
                 data_labels)
        return list(range(len(data_labels)))
    rows = {label_map.get(name, name).casefold(): row for row, name in enumerate(model_labels)}
    data_names = {label.casefold() for label in data_labels}
    if len(rows) != len(model_labels) or len(data_names) != len(data_labels) or not data_names <= set(rows):
        return None  # two names on one side that differ only in case cannot be matched case-insensitively
    return [rows[label.casefold()] for label in data_labels]


def output_layer(model: torch.nn.Module) -> torch.nn.Linear:
    """The classifier's last linear layer: one row per label (BERT's classifier, RoBERTa's out_proj, ...)."""
    rows = model.config.num_labels
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == rows]
    if not layers:
        raise TextslimError(f"teacher.model: no output layer with {rows} rows in this "
                            f"{type(model).__name__}")
    return layers[-1]  # a head's last layer comes after the encoder's (DistilBERT's pre_classifier is square)


def reorder_head(model, order: list[int], labels: list[str]) -> None:
    """Permute the output rows so that row i scores labels[i], and say so in the config."""
    layer = output_layer(model)
    with torch.no_grad():
        layer.weight.copy_(layer.weight[order])
        if layer.bias is not None:
            layer.bias.copy_(layer.bias[order])
    model.config.id2label = dict(enumerate(labels))
    model.config.label2id = {name: i for i, name in enumerate(labels)}


# The config key each head reads its dropout from, where it is not BERT's `classifier_dropout`.
HEAD_DROPOUT_KEYS = {"distilbert": "seq_classif_dropout", "deberta-v2": "cls_dropout"}


def head_dropout_key(config: PretrainedConfig) -> str | None:
    """Which config key sets the classification head's dropout; None where the head reuses the encoder's."""
    if config.model_type in HEAD_DROPOUT_KEYS:
        return HEAD_DROPOUT_KEYS[config.model_type]
    return "classifier_dropout" if hasattr(config, "classifier_dropout") else None  # MPNet's head has none


def _set_head_dropout(config: PretrainedConfig, cfg: TeacherParams) -> None:
    key = head_dropout_key(config)
    if key is not None:
        setattr(config, key, cfg.head_dropout)
    else:
        log.warning("teacher.head_dropout: %s heads have no separate dropout; using the encoder's (%s)",
                    config.model_type, getattr(config, "hidden_dropout_prob", getattr(config, "dropout", "n/a")))


def load_teacher(cfg: TeacherParams, labels: list[str]):
    """(model, tokenizer) with the head's rows in the data's label order. A classifier whose labels cannot be matched
    is an error when it is used as it is (finetune: false); when it is fine-tuned, it gets a fresh head (one line)."""
    source = resolve_model(cfg.model, key="teacher.model")
    tokenizer = AutoTokenizer.from_pretrained(source)
    given = AutoConfig.from_pretrained(source)
    order = None
    if has_classifier_head(given):
        model_labels = [given.id2label[i] for i in range(given.num_labels)]
        order = head_order(model_labels, labels, cfg.label_map)
        if order is None and not cfg.finetune:
            raise TextslimError(f"teacher.model: its labels {model_labels} do not match the data's labels {labels}; "
                                "name the renames in teacher.label_map {model_label: data_label}")
        if order is None:
            log.warning("teacher: its labels %s do not match the data's %s; fine-tuning starts from a fresh head",
                        model_labels, labels)
    elif not cfg.finetune:
        raise TextslimError(f"teacher.finetune: false needs a fine-tuned classifier; {cfg.model} is a bare encoder "
                            f"(architectures {given.architectures}), so set teacher.finetune: true")
    if order is not None:
        config = AutoConfig.from_pretrained(source)
        _set_head_dropout(config, cfg)
        model = AutoModelForSequenceClassification.from_pretrained(source, config=config)
        reorder_head(model, order, labels)
        return model, tokenizer
    config = AutoConfig.from_pretrained(source, num_labels=len(labels), id2label=dict(enumerate(labels)),
                                        label2id={name: i for i, name in enumerate(labels)})
    _set_head_dropout(config, cfg)
    if not has_classifier_head(given):
        return AutoModelForSequenceClassification.from_pretrained(source, config=config), tokenizer
    model = AutoModelForSequenceClassification.from_pretrained(source, config=config, ignore_mismatched_sizes=True)
    model._init_weights(output_layer(model))  # a same-sized head of other labels loaded its old rows: start fresh
    return model, tokenizer


def hub_revision(model) -> str | None:
    """The commit a hub model was loaded at (transformers records it on the config); None for a local folder."""
    return getattr(model.config, "_commit_hash", None)


def setfit_teacher(cfg: TeacherParams, train: pd.DataFrame, labels: list[str], seed: int):
    """(model, tokenizer, record): SetFit few-shot training of the sentence-transformers cfg.model on the labelled
    training texts, as one torch classifier (SetFitClassifier) that the students distil from like any teacher."""
    from textslim.train.setfit import FewShotSettings, to_classifier, train_few_shot

    settings = FewShotSettings(cfg.max_length, cfg.batch_size, cfg.setfit_epochs, cfg.setfit_iterations,
                               cfg.setfit_learning_rate)
    log.info("teacher: SetFit on %d labelled texts (%s per class)", len(train),
             ", ".join(str(n) for n in train["label"].value_counts().sort_index()))
    few_shot = train_few_shot(cfg.model, train, settings, seed, key="teacher.model")
    model = to_classifier(few_shot, labels, key="teacher.model")
    return model, few_shot.model_body.tokenizer, {"labelled_texts": len(train)}


def write_untrained_curves(live_dir: str | Path, validation_logits: np.ndarray, validation_labels: np.ndarray,
                           reason: str) -> None:
    """What the training curves' DVCLive folder holds for a teacher with no epochs here (used as it is, or trained
    by SetFit): each curve is its header alone (dvc.yaml declares them), metrics.json says why and holds the
    model's validation scores.

    Written by hand: DVCLive writes a curve's file only when a step is logged, and there is no step to log.
    """
    live_dir = Path(live_dir)
    for curve in ("eval/macro_f1", "eval/loss", "loss"):
        path = live_dir / "plots" / "metrics" / f"{curve}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"step\t{curve.rsplit('/', 1)[-1]}\n")
    scores = torch.from_numpy(validation_logits).float()
    targets = torch.tensor(np.asarray(validation_labels), dtype=torch.long)
    loss = torch.nn.functional.cross_entropy(scores, targets).item()
    macro_f1 = f1_score(validation_labels, validation_logits.argmax(-1), average="macro")
    write_json(live_dir / "metrics.json", {"no_curves": reason, "eval": {"loss": loss, "macro_f1": float(macro_f1)}})
