"""Student recipes by name: each name in `distill.students` resolves to a builder here.

A builder returns the untrained student, the tokenizer it reads text with (the teacher's, or its own), the
training settings and loss weights it trains with, and a description for the report. Every recipe then goes
through the same training loop (textslim.distill.train_classifier).
"""

from dataclasses import dataclass

import pandas as pd
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from textslim.distill import LossWeights
from textslim.errors import TextslimError
from textslim.params import LAYER_STRATEGIES, STUDENT_RECIPES, Params, TrainParams
from textslim.students import lstm as _lstm  # noqa: F401  (registers the BiLSTM with the Auto* classes)
from textslim.students import setfit as _setfit  # noqa: F401  (registers the SetFit classifier likewise)
from textslim.students.layers import build_layer_student


@dataclass
class StudentBuild:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    train: TrainParams
    loss: LossWeights
    recipe: dict
    train_rows: list[int] | None = None  # the training rows it distils on; None: all of them


def build_student(name: str, teacher: PreTrainedModel, teacher_tokenizer: PreTrainedTokenizerBase,
                  splits: dict[str, pd.DataFrame], labels: list[str], params: Params) -> StudentBuild:
    """The untrained student for a recipe name; params are checked before anything slow happens."""
    cfg = params.distill
    train_texts = splits["train"]["text"].tolist()
    kd = LossWeights.from_alpha(cfg.alpha, cfg.temperature)
    if name in LAYER_STRATEGIES:
        student, layers = build_layer_student(teacher, name, cfg.num_layers)
        return StudentBuild(student, teacher_tokenizer, cfg, kd, {"recipe": "layers", "teacher_layers": layers})
    if name == "pretrained":
        from textslim.students.pretrained import build_pretrained_student

        student, tokenizer, recipe = build_pretrained_student(cfg.pretrained_model, labels)
        return StudentBuild(student, tokenizer, cfg, kd, recipe)
    if name == "lora":
        from textslim.students.lora import build_lora_student, lora_train_params

        student, tokenizer, recipe = build_lora_student(teacher, teacher_tokenizer, labels, params)
        return StudentBuild(student, tokenizer, lora_train_params(params), kd, recipe)
    if name == "lstm":
        lp = params.lstm
        student, tokenizer, recipe = _lstm.build_lstm_student(
            train_texts, labels, lp.embeddings, lp.embedding_dim, lp.hidden_size, lp.dropout, lp.min_count,
            lp.max_vocab, params.seed)
        weights = LossWeights(hard=lp.hard_weight, soft=lp.soft_weight, sequence=lp.sequence_weight,
                              temperature=cfg.temperature)
        return StudentBuild(student, tokenizer, lp, weights, recipe)
    if name == "setfit":
        student, tokenizer, unlabelled, recipe = _setfit.build_setfit_student(splits, labels, params.setfit,
                                                                              params.seed)
        # The distillation texts count as unlabelled: the teacher's soft targets are the only signal.
        soft_only = LossWeights(hard=0.0, soft=1.0, temperature=cfg.temperature)
        return StudentBuild(student, tokenizer, params.setfit, soft_only, recipe, train_rows=unlabelled)
    raise TextslimError(f"distill.students: unknown recipe {name!r}; known: {', '.join(STUDENT_RECIPES)}")
