"""SetFit few-shot training (the library's own trainer: contrastive pairs, then a logistic-regression head), and
its model as one torch classifier (SetFitClassifier). The SetFit student and the few-shot SetFit teacher both train
through here."""

import tempfile
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from textslim.architectures.setfit_head import SetFitClassifier, SetFitClassifierConfig
from textslim.assets import resolve_model
from textslim.errors import TextslimError


@dataclass(frozen=True)
class FewShotSettings:
    """SetFit's contrastive phase: the body reads max_length tokens; num_iterations pairs per labelled text."""

    max_length: int
    batch_size: int
    epochs: int
    num_iterations: int
    learning_rate: float


def train_few_shot(body: str, shots: pd.DataFrame, cfg: FewShotSettings, seed: int, key: str):
    """SetFit's own trainer: contrastive pairs from the labelled shots, then the logistic-regression head. `body` is
    a sentence-transformers model (a built-in or a directory); `key` names it in errors."""
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    model = SetFitModel.from_pretrained(str(resolve_model(body, key=key)))
    model.model_body.max_seq_length = cfg.max_length
    with tempfile.TemporaryDirectory(prefix="textslim-setfit-") as scratch:
        args = TrainingArguments(
            output_dir=scratch, batch_size=cfg.batch_size, num_epochs=cfg.epochs,
            num_iterations=cfg.num_iterations, body_learning_rate=cfg.learning_rate,
            max_length=cfg.max_length, seed=seed, report_to="none", save_strategy="no", show_progress_bar=False)
        dataset = Dataset.from_dict({"text": shots["text"].tolist(), "label": shots["label"].astype(int).tolist()})
        Trainer(model=model, args=args, train_dataset=dataset).train()
    return model


def _pooling_and_normalize(body, key: str) -> bool:
    """Check the body pools by mean (the only pooling SetFitClassifier implements); True when it L2-normalises."""
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

    modules = list(body)
    pooling = [m for m in modules if isinstance(m, Pooling)]
    if len(pooling) != 1 or pooling[0].pooling_mode != "mean":
        modes = [p.pooling_mode for p in pooling]
        raise TextslimError(f"{key}: only mean-pooling sentence-transformers bodies are supported, got {modes}")
    return any(isinstance(m, Normalize) for m in modules)


def to_classifier(setfit_model, labels: list[str], key: str = "setfit.body") -> SetFitClassifier:
    """The SetFit model as a SetFitClassifier whose softmax equals the logistic-regression head's predict_proba."""
    head = setfit_model.model_head
    encoder = setfit_model.model_body[0].auto_model
    coef, intercept = np.asarray(head.coef_, dtype=np.float32), np.asarray(head.intercept_, dtype=np.float32)
    if list(head.classes_) != list(range(len(labels))):
        raise TextslimError(f"setfit: the head saw classes {list(head.classes_)}, expected 0..{len(labels) - 1}")
    if coef.shape[0] == 1:
        # Binary logistic regression scores one logit z: p(1) = sigmoid(z) = softmax([-z/2, z/2])[1].
        coef, intercept = np.concatenate([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
    config = SetFitClassifierConfig(
        encoder=encoder.config.to_dict(), normalize=_pooling_and_normalize(setfit_model.model_body, key),
        num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})
    model = SetFitClassifier(config)
    missing, unexpected = model.encoder.load_state_dict(encoder.state_dict(), strict=False)
    if missing:
        raise TextslimError(f"{key}: encoder weights missing after conversion: {missing[:3]}")
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(coef))
        model.classifier.bias.copy_(torch.from_numpy(intercept))
    return model.eval()
