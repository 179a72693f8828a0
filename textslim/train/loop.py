"""The ONE training loop every torch classifier uses (teacher included), with the distillation losses
(textslim.train.losses).

The loop is the HF Trainer; distillation is only a different compute_loss, so the teacher (alpha = 0, no teacher
logits) and every student share optimisation, early stopping, checkpoint selection and logging.
"""

import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
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
from textslim.train import distributed
from textslim.train.losses import LossWeights, hidden_state_loss, kd_loss

log = logging.getLogger(__name__)
LABELS_ONLY = LossWeights()  # cross-entropy on the gold labels alone: how the teacher trains
# The Trainer's per-evaluation timings: they differ run to run, so a kept history would make a re-run with the same
# weights write a different model folder (its textslim_student.json), and DVC would rerun every stage downstream.
EVAL_TIMINGS = ("eval_runtime", "eval_samples_per_second", "eval_steps_per_second")


class DistillationTrainer(Trainer):
    """A Trainer whose loss mixes hard labels with the teacher's precomputed soft targets and, when
    loss_weights.hidden > 0, the teacher's hidden states (the teacher then runs, gradient-free, in the training step).
    """

    def __init__(self, *args, loss_weights: LossWeights = LABELS_ONLY, teacher=None, layer_map=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_weights = loss_weights
        if loss_weights.hidden and (teacher is None or layer_map is None):
            raise ValueError("an intermediate-layer loss needs the teacher and the student-to-teacher layer map")
        self.teacher = teacher.to(self.args.device).eval() if loss_weights.hidden else None
        self.layer_map = layer_map

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        teacher_logits = inputs.pop("teacher_logits", None)
        labels = inputs.pop("labels")
        hidden = bool(self.loss_weights.hidden) and model.training
        outputs = model(**inputs, output_hidden_states=True) if hidden else model(**inputs)
        loss = kd_loss(outputs.logits, teacher_logits, labels, self.loss_weights)
        if hidden:
            with torch.no_grad():
                teacher_hidden = self.teacher(**inputs, output_hidden_states=True).hidden_states
            loss = loss + self.loss_weights.hidden * hidden_state_loss(
                outputs.hidden_states, teacher_hidden, self.layer_map, inputs["attention_mask"])
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


CURVES = ("loss", "eval_loss", "eval_macro_f1")  # the per-epoch figures dvc.yaml declares as plots


def epoch_curves_callback(live_dir: Path):
    """DVCLive's HF callback, keeping only the per-epoch curves dvc.yaml declares, one DVCLive step per epoch.

    The stock callback also writes the TrainingArguments (with a temporary output_dir, so a new file every run) and a
    dozen timing series; files a stage writes but does not declare would be missing after a run-cache restore.
    """
    from dvclive import Live
    from transformers.integrations import DVCLiveCallback

    class EpochCurves(DVCLiveCallback):
        def setup(self, args, state, model):
            self._initialized = True  # no log_params: params.yaml already holds every setting

        def on_log(self, args, state, control, model=None, logs=None, **kwargs):
            kept = {key: value for key, value in (logs or {}).items() if key in CURVES}
            self._pending = {**getattr(self, "_pending", {}), **kept}
            if "eval_macro_f1" in kept:  # the epoch's training loss arrived first; one step per epoch
                super().on_log(args, state, control, model=model, logs=self._pending, **kwargs)
                self._pending = {}

    # dvcyaml=None: the pipeline's dvc.yaml declares the plots; DVCLive must not rewrite it.
    # The callback ends the Live run when training ends.
    return EpochCurves(live=Live(dir=str(live_dir), dvcyaml=None, save_dvc_exp=False, report=None))


def train_classifier(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, train: Dataset,
                     validation: Dataset, params: TrainParams, seed: int, live_dir: Path | None = None,
                     loss_weights: LossWeights = LABELS_ONLY, teacher: PreTrainedModel | None = None,
                     layer_map: list[int] | None = None) -> list[dict]:
    """Train in place; keep the epoch with the best validation macro-F1. Returns the per-epoch eval log.

    teacher and layer_map are needed only for an intermediate-layer loss (loss_weights.hidden > 0). Under torchrun
    (textslim.train.distributed) every process trains its share of each batch; only rank 0 returns, the others exit.
    """
    batch_size = distributed.per_device_batch_size(params)  # params.batch_size in one process
    callbacks = [EarlyStoppingCallback(early_stopping_patience=params.early_stopping_patience)]
    if live_dir is not None and distributed.is_main_process():
        callbacks.append(epoch_curves_callback(live_dir))
    with tempfile.TemporaryDirectory(prefix="textslim-ckpt-") as checkpoints:
        args = TrainingArguments(
            output_dir=checkpoints, num_train_epochs=params.epochs, per_device_train_batch_size=batch_size,
            per_device_eval_batch_size=batch_size * 2, warmup_ratio=params.warmup_ratio,
            eval_strategy="epoch", save_strategy="epoch", save_only_model=True, save_total_limit=1,
            load_best_model_at_end=True, metric_for_best_model="macro_f1", greater_is_better=True,
            logging_strategy="epoch", report_to=[], seed=seed, data_seed=seed,
            remove_unused_columns=False,  # keeps teacher_logits, which the model's forward does not take
            group_by_length=True,  # batches of similar length: far less padding, much faster on a CPU
            fp16=torch.cuda.is_available(), dataloader_num_workers=0, disable_tqdm=False,
            **distributed.training_arguments(),  # DDP's; none in one process
        )
        trainer = DistillationTrainer(
            model=model, args=args, train_dataset=train, eval_dataset=validation, data_collator=_Collator(tokenizer),
            compute_metrics=eval_metrics, callbacks=callbacks, optimizers=(_optimizer(model, params), None),
            loss_weights=loss_weights, teacher=teacher, layer_map=layer_map)
        trainer.train()
        history = [{key: value for key, value in entry.items() if key not in EVAL_TIMINGS}
                   for entry in trainer.state.log_history if "eval_macro_f1" in entry]
    # Only rank 0 saved checkpoints, so only rank 0 reloaded the best epoch: the other ranks stop here.
    distributed.end_training()
    best = max(history, key=lambda e: e["eval_macro_f1"])
    log.info("best epoch %.0f: validation accuracy %.4f, macro-F1 %.4f", best["epoch"], best["eval_accuracy"],
             best["eval_macro_f1"])
    return history
