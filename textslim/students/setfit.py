"""The `setfit` student: SetFit few-shot training of a sentence-transformers body, then distillation from the teacher.

1. SetFit (the library): contrastive fine-tuning of the body on pairs built from `setfit.shots_per_class` labelled
   examples per class, then a logistic-regression head on the embeddings. Its accuracy is recorded: the few-shot
   model is what you would have without a teacher.
2. The body, its pooling and the head become one torch classifier (SetFitClassifier, below); the head's weights come
   from the logistic regression, so before training it scores exactly like SetFit's predict_proba. It is then
   distilled on the rest of the training texts as unlabelled data: soft KL to the teacher's logits only.

Why KD on the head's logits rather than SetFit's DistillationTrainer: that trainer distils a SetFit teacher's
*embeddings* through cosine-similarity pairs; our teacher is a fine-tuned classifier whose knowledge is in its
logits, which every other student already learns from through the one training loop.
"""

import logging
import tempfile
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from transformers import PreTrainedTokenizerBase

from textslim.architectures.setfit_head import SetFitClassifier, SetFitClassifierConfig
from textslim.assets import resolve_model
from textslim.data import sample_per_class
from textslim.errors import TextslimError
from textslim.metrics import classification_metrics
from textslim.params import TrainParams, check_param
from textslim.students.registry import BuildContext, Recipe, StudentBuild, register
from textslim.students.torch_export import export_torch_onnx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SetfitParams(TrainParams):
    """The SetFit student: contrastive few-shot training of a sentence-transformers body, then distillation.

    The train fields (epochs, learning rates, ...) are the distillation phase's; the contrastive phase has its own.
    """

    body: str = "builtin:minilm-l6"  # a sentence-transformers model: a built-in or a local directory
    shots_per_class: int = 8  # labelled training examples per class for the few-shot phase
    num_iterations: int = 20  # SetFit's contrastive pairs per labelled example
    contrastive_epochs: int = 1
    contrastive_batch_size: int = 16
    contrastive_learning_rate: float = 2e-5
    epochs: int = 2
    learning_rate: float = 1e-4
    head_learning_rate: float = 1e-3

    def validate(self, section: str) -> None:
        self.validate_train(section)
        for name in ("shots_per_class", "num_iterations", "contrastive_epochs", "contrastive_batch_size"):
            check_param(getattr(self, name) >= 1, f"{section}.{name}", "an integer >= 1", getattr(self, name))
        check_param(self.contrastive_learning_rate > 0, f"{section}.contrastive_learning_rate", "a number > 0",
                    self.contrastive_learning_rate)


def train_few_shot(body: str, shots: pd.DataFrame, cfg: SetfitParams, seed: int):
    """SetFit's own trainer: contrastive pairs from the labelled shots, then the logistic-regression head."""
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    model = SetFitModel.from_pretrained(str(resolve_model(body, key="setfit.body")))
    model.model_body.max_seq_length = cfg.max_length
    with tempfile.TemporaryDirectory(prefix="textslim-setfit-") as scratch:
        args = TrainingArguments(
            output_dir=scratch, batch_size=cfg.contrastive_batch_size, num_epochs=cfg.contrastive_epochs,
            num_iterations=cfg.num_iterations, body_learning_rate=cfg.contrastive_learning_rate,
            max_length=cfg.max_length, seed=seed, report_to="none", save_strategy="no", show_progress_bar=False)
        dataset = Dataset.from_dict({"text": shots["text"].tolist(), "label": shots["label"].astype(int).tolist()})
        Trainer(model=model, args=args, train_dataset=dataset).train()
    return model


def _pooling_and_normalize(body) -> bool:
    """Check the body pools by mean (the only pooling SetFitClassifier implements); True when it L2-normalises."""
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

    modules = list(body)
    pooling = [m for m in modules if isinstance(m, Pooling)]
    if len(pooling) != 1 or pooling[0].pooling_mode != "mean":
        modes = [p.pooling_mode for p in pooling]
        raise TextslimError(f"setfit.body: only mean-pooling sentence-transformers bodies are supported, got {modes}")
    return any(isinstance(m, Normalize) for m in modules)


def to_classifier(setfit_model, labels: list[str]) -> SetFitClassifier:
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
        encoder=encoder.config.to_dict(), normalize=_pooling_and_normalize(setfit_model.model_body),
        num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})
    model = SetFitClassifier(config)
    missing, unexpected = model.encoder.load_state_dict(encoder.state_dict(), strict=False)
    if missing:
        raise TextslimError(f"setfit.body: encoder weights missing after conversion: {missing[:3]}")
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(coef))
        model.classifier.bias.copy_(torch.from_numpy(intercept))
    return model.eval()


def build_setfit_student(splits: dict[str, pd.DataFrame], labels: list[str], cfg: SetfitParams, seed: int
                         ) -> tuple[SetFitClassifier, PreTrainedTokenizerBase, list[int], dict]:
    """Few-shot SetFit model -> SetFitClassifier; returns it, its tokenizer, the unlabelled rows and the recipe."""
    train = splits["train"]
    shots = sample_per_class(train, cfg.shots_per_class, seed, "setfit.shots_per_class")  # checked before training
    log.info("setfit: contrastive training on %d labelled texts (%d per class)", len(shots), cfg.shots_per_class)
    few_shot = train_few_shot(cfg.body, shots, cfg, seed)
    scores = {name: classification_metrics(splits[name]["label"].to_numpy(),
                                           np.asarray(few_shot.predict(splits[name]["text"].tolist())), labels)
              for name in ("validation", "test")}
    log.info("setfit: few-shot model before distillation: validation accuracy %.4f, test accuracy %.4f",
             scores["validation"]["accuracy"], scores["test"]["accuracy"])
    model = to_classifier(few_shot, labels)
    labelled = set(shots.index)
    unlabelled = [i for i in range(len(train)) if i not in labelled]
    recipe = {"recipe": "setfit", "body": cfg.body, "shots_per_class": cfg.shots_per_class,
              "labelled_texts": len(shots), "unlabelled_texts": len(unlabelled),
              "few_shot": {name: {"accuracy": s["accuracy"], "macro_f1": s["macro_f1"]} for name, s in scores.items()}}
    return model, few_shot.model_body.tokenizer, unlabelled, recipe


def _build(ctx: BuildContext) -> StudentBuild:
    from textslim.train.losses import LossWeights

    seed = ctx.params.distill.seed
    model, tokenizer, unlabelled, recipe = build_setfit_student(ctx.splits, ctx.labels, ctx.section, seed)
    # The distillation texts count as unlabelled: the teacher's soft targets are the only signal.
    soft_only = LossWeights(hard=0.0, soft=1.0, temperature=ctx.params.distill.temperature)
    return StudentBuild(model, tokenizer, ctx.section, soft_only, recipe, train_rows=unlabelled)


def _note(name: str, metrics: dict, teacher_accuracy: float) -> str:
    """The few-shot model's accuracy and how much of the gap to the teacher distillation closed."""
    recipe, forms = metrics["recipe"], metrics["forms"]
    few = recipe["few_shot"]["test"]["accuracy"]
    distilled, int8 = forms["distilled-fp32"]["accuracy"], forms["onnx-int8"]["accuracy"]
    gap = teacher_accuracy - few
    closed = f"closes {(distilled - few) / gap:.0%} of the gap" if gap > 0 else "starts at or above the teacher"
    return (f"- `{name}`: SetFit on {recipe['labelled_texts']} labelled texts ({recipe['shots_per_class']} per class) "
            f"scores {100 * few:.2f}% before distillation; distilled on {recipe['unlabelled_texts']:,} unlabelled "
            f"texts it scores {100 * distilled:.2f}% ({100 * int8:.2f}% as INT8): distillation {closed} to the "
            f"teacher's {100 * teacher_accuracy:.2f}%.")


register(Recipe("setfit", SetfitParams, _build, export=export_torch_onnx, note=_note,
                describe=lambda s: f"setfit (`{s.body}`, {s.shots_per_class} shots per class, then KD)"))
