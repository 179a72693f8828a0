"""The knowledge-distillation loss and the ONE training loop every torch classifier uses (teacher included).

The loop is the HF Trainer; distillation is only a different compute_loss, so the teacher (alpha = 0, no teacher
logits) and every student share optimisation, early stopping, checkpoint selection and logging.
"""

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from datasets import Dataset
from transformers import (
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
)

from textslim.metrics import eval_metrics
from textslim.params import TrainParams

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LossWeights:
    """hard: CE(labels); soft: T^2 * KL(teacher_T || student_T); sequence: CE(teacher's argmax)."""

    hard: float = 1.0
    soft: float = 0.0
    sequence: float = 0.0
    temperature: float = 1.0

    @classmethod
    def from_alpha(cls, alpha: float, temperature: float) -> "LossWeights":
        """The classic mix: (1 - alpha) * CE(labels) + alpha * T^2 * KL."""
        return cls(hard=1 - alpha, soft=alpha, temperature=temperature)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor | None, labels: torch.Tensor,
            weights: LossWeights) -> torch.Tensor:
    """hard * CE(student, labels) + soft * T^2 * KL(softmax(teacher/T) || softmax(student/T))
    + sequence * CE(student, argmax teacher)."""
    loss = weights.hard * F.cross_entropy(student_logits, labels)
    if teacher_logits is None:
        return loss
    t = weights.temperature
    if weights.soft:
        kl = F.kl_div(F.log_softmax(student_logits / t, dim=-1), F.log_softmax(teacher_logits / t, dim=-1),
                      reduction="batchmean", log_target=True)
        # T^2 keeps the soft term's gradient scale independent of T (Hinton et al., 2015).
        loss = loss + weights.soft * t**2 * kl
    if weights.sequence:
        # The teacher's hard decisions as labels: Tang et al.'s "distilling BERT into a BiLSTM" recipe.
        loss = loss + weights.sequence * F.cross_entropy(student_logits, teacher_logits.argmax(-1))
    return loss


class DistillationTrainer(Trainer):
    """A Trainer whose loss mixes hard labels with the teacher's precomputed soft targets."""

    def __init__(self, *args, loss_weights: LossWeights = LossWeights(), **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_weights = loss_weights

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        teacher_logits = inputs.pop("teacher_logits", None)
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = kd_loss(outputs.logits, teacher_logits, labels, self.loss_weights)
        return (loss, outputs) if return_outputs else loss


class _Collator:
    """Dynamic padding for the token fields; teacher logits ride along as a float tensor."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase):
        self.pad = DataCollatorWithPadding(tokenizer)

    def __call__(self, features: list[dict]) -> dict:
        teacher = [f.pop("teacher_logits") for f in features if "teacher_logits" in f]
        batch = self.pad(features)
        if teacher:
            batch["teacher_logits"] = torch.tensor(np.asarray(teacher), dtype=torch.float32)
        return batch


def tokenize_frame(frame: pd.DataFrame, tokenizer: PreTrainedTokenizerBase, max_length: int,
                   teacher_logits: np.ndarray | None = None) -> Dataset:
    """A Dataset of token ids (unpadded), labels and, when given, the teacher's logits per row."""
    columns = {"text": frame["text"].tolist(), "labels": frame["label"].astype("int64").tolist()}
    if teacher_logits is not None:
        if len(teacher_logits) != len(frame):
            raise ValueError(f"{len(teacher_logits)} teacher logits for {len(frame)} texts")
        columns["teacher_logits"] = teacher_logits.astype(np.float32).tolist()
    dataset = Dataset.from_dict(columns)
    return dataset.map(lambda b: tokenizer(b["text"], truncation=True, max_length=max_length),
                       batched=True, remove_columns=["text"])


def _optimizer(model: PreTrainedModel, params: TrainParams) -> torch.optim.Optimizer:
    """AdamW with one learning rate for the pretrained encoder and a larger one for the freshly initialised head."""
    prefix = f".{model.base_model_prefix}."  # peft wraps names: base_model.model.bert.encoder...
    encoder, head = [], []
    for name, weight in model.named_parameters():
        if weight.requires_grad:
            (encoder if prefix in f".{name}" else head).append(weight)
    groups = [{"params": encoder, "lr": params.learning_rate}, {"params": head, "lr": params.head_learning_rate}]
    return torch.optim.AdamW([g for g in groups if g["params"]], weight_decay=params.weight_decay)


def train_classifier(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, train: Dataset,
                     validation: Dataset, params: TrainParams, seed: int, live_dir: Path | None = None,
                     loss_weights: LossWeights = LossWeights()) -> list[dict]:
    """Train in place; keep the epoch with the best validation macro-F1. Returns the per-epoch eval log."""
    callbacks = [EarlyStoppingCallback(early_stopping_patience=params.early_stopping_patience)]
    if live_dir is not None:
        from dvclive import Live
        from transformers.integrations import DVCLiveCallback

        # dvcyaml=None: the pipeline's dvc.yaml declares the plots; DVCLive must not rewrite it.
        # The callback ends the Live run when training ends.
        live = Live(dir=str(live_dir), dvcyaml=None, save_dvc_exp=False, report=None)
        callbacks.append(DVCLiveCallback(live=live))
    with tempfile.TemporaryDirectory(prefix="textslim-ckpt-") as checkpoints:
        args = TrainingArguments(
            output_dir=checkpoints, num_train_epochs=params.epochs, per_device_train_batch_size=params.batch_size,
            per_device_eval_batch_size=params.batch_size * 2, warmup_ratio=params.warmup_ratio,
            eval_strategy="epoch", save_strategy="epoch", save_only_model=True, save_total_limit=1,
            load_best_model_at_end=True, metric_for_best_model="macro_f1", greater_is_better=True,
            logging_strategy="epoch", report_to=[], seed=seed, data_seed=seed,
            remove_unused_columns=False,  # keeps teacher_logits, which the model's forward does not take
            group_by_length=True,  # batches of similar length: far less padding, much faster on a CPU
            fp16=torch.cuda.is_available(), dataloader_num_workers=0, disable_tqdm=False,
        )
        trainer = DistillationTrainer(
            model=model, args=args, train_dataset=train, eval_dataset=validation, data_collator=_Collator(tokenizer),
            compute_metrics=eval_metrics, callbacks=callbacks, optimizers=(_optimizer(model, params), None),
            loss_weights=loss_weights)
        trainer.train()
        history = [entry for entry in trainer.state.log_history if "eval_macro_f1" in entry]
    best = max(history, key=lambda e: e["eval_macro_f1"])
    log.info("best epoch %.0f: validation accuracy %.4f, macro-F1 %.4f", best["epoch"], best["eval_accuracy"],
             best["eval_macro_f1"])
    return history
