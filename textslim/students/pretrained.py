"""The pretrained compact student (the BERT-base -> DistilBERT recipe): a smaller pretrained encoder, fresh head.

It reads text with its own tokenizer, so it may differ from the teacher's; the teacher's logits are per text.
"""

from dataclasses import dataclass

from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from textslim.assets import resolve_model
from textslim.params import check_param
from textslim.students.registry import BuildContext, Recipe, StudentBuild, register


@dataclass(frozen=True)
class PretrainedParams:
    model: str = "builtin:minilm-l6"  # a built-in or a local model directory

    def validate(self, section: str) -> None:
        check_param(bool(self.model), f"{section}.model", "a built-in name or a model directory", self.model)


def build_pretrained_student(reference: str, labels: list[str], key: str = "pretrained.model"
                             ) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, dict]:
    """The encoder named by `reference` with a new classification head for these labels."""
    source = resolve_model(reference, key=key)
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForSequenceClassification.from_pretrained(
        source, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)})
    return model, tokenizer, {"recipe": "pretrained", "model": reference,
                              "layers": model.config.num_hidden_layers}


def _build(ctx: BuildContext) -> StudentBuild:
    from textslim.train.losses import LossWeights

    student, tokenizer, recipe = build_pretrained_student(ctx.section.model, ctx.labels)
    kd = LossWeights.from_alpha(ctx.params.distill.alpha, ctx.params.distill.temperature)
    return StudentBuild(student, tokenizer, ctx.params.distill, kd, recipe)


register(Recipe("pretrained", PretrainedParams, _build, describe=lambda section: f"pretrained (`{section.model}`)"))
