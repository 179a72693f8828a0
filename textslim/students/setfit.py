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
from dataclasses import dataclass

import numpy as np
import pandas as pd
from transformers import PreTrainedTokenizerBase

from textslim.architectures.setfit_head import SetFitClassifier
from textslim.data import sample_per_class
from textslim.metrics import classification_metrics
from textslim.params import TrainParams, check_param
from textslim.students.registry import BuildContext, Recipe, StudentBuild, register
from textslim.students.torch_export import export_torch_onnx
from textslim.train.setfit import FewShotSettings, to_classifier, train_few_shot

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


def few_shot_settings(cfg: SetfitParams) -> FewShotSettings:
    return FewShotSettings(cfg.max_length, cfg.contrastive_batch_size, cfg.contrastive_epochs, cfg.num_iterations,
                           cfg.contrastive_learning_rate)


def build_setfit_student(splits: dict[str, pd.DataFrame], labels: list[str], cfg: SetfitParams, seed: int
                         ) -> tuple[SetFitClassifier, PreTrainedTokenizerBase, list[int], dict]:
    """Few-shot SetFit model -> SetFitClassifier; returns it, its tokenizer, the unlabelled rows and the recipe."""
    train = splits["train"]
    shots = sample_per_class(train, cfg.shots_per_class, seed, "setfit.shots_per_class")  # checked before training
    log.info("setfit: contrastive training on %d labelled texts (%d per class)", len(shots), cfg.shots_per_class)
    few_shot = train_few_shot(cfg.body, shots, few_shot_settings(cfg), seed, key="setfit.body")
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
    unlabelled = recipe["unlabelled_texts"] + recipe.get("transfer_unlabelled_texts", 0)  # few-shot: the prepared ones
    few = recipe["few_shot"]["test"]["accuracy"]
    distilled, int8 = forms["distilled-fp32"]["accuracy"], forms["onnx-int8"]["accuracy"]
    gap = teacher_accuracy - few
    closed = f"closes {(distilled - few) / gap:.0%} of the gap" if gap > 0 else "starts at or above the teacher"
    return (f"- `{name}`: SetFit on {recipe['labelled_texts']} labelled texts ({recipe['shots_per_class']} per class) "
            f"scores {100 * few:.2f}% before distillation; distilled on {unlabelled:,} unlabelled "
            f"texts it scores {100 * distilled:.2f}% ({100 * int8:.2f}% as INT8): distillation {closed} to the "
            f"teacher's {100 * teacher_accuracy:.2f}%.")


register(Recipe("setfit", SetfitParams, _build, export=export_torch_onnx, note=_note,
                describe=lambda s: f"setfit (`{s.body}`, {s.shots_per_class} shots per class, then KD)"))
