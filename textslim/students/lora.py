"""LoRA students (peft): low-rank adapters on a student's attention, trained with the KD loss, then merged.

Merging before pruning and export means what is deployed is a plain model that needs no peft.
"""

from dataclasses import dataclass, replace

from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from textslim.errors import TextslimError
from textslim.params import check_param
from textslim.students.layers import STRATEGIES, build_layer_student
from textslim.students.pretrained import build_pretrained_student
from textslim.students.registry import BuildContext, Recipe, StudentBuild, register

BASES = (*STRATEGIES, "pretrained")


@dataclass(frozen=True)
class LoraParams:
    """Its own section holds the base student's settings too, so its stage depends on no other recipe's section."""

    base: str = "spread"  # a layer strategy (a num_layers copy of the teacher) or "pretrained"
    num_layers: int = 3  # layer bases
    pretrained_model: str = "builtin:minilm-l6"  # the pretrained base
    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.1
    target_modules: tuple[str, ...] = ("auto",)  # "auto": every Linear inside the attention blocks
    learning_rate: float = 5e-4  # adapters and head: LoRA wants a larger step than full fine-tuning

    def validate(self, section: str) -> None:
        check_param(self.base in BASES, f"{section}.base", f"one of {', '.join(BASES)}", self.base)
        check_param(self.num_layers >= 1, f"{section}.num_layers", "an integer >= 1", self.num_layers)
        check_param(self.rank >= 1, f"{section}.rank", "an integer >= 1", self.rank)
        check_param(self.alpha > 0, f"{section}.alpha", "a number > 0", self.alpha)
        check_param(0 <= self.dropout < 1, f"{section}.dropout", "a fraction in [0, 1)", self.dropout)
        check_param(self.learning_rate > 0, f"{section}.learning_rate", "a number > 0", self.learning_rate)
        check_param(len(self.target_modules) > 0, f"{section}.target_modules", "[auto] or module name suffixes",
                    list(self.target_modules))


def attention_targets(model: nn.Module) -> list[str]:
    """Name suffixes of every Linear inside the attention blocks, found generically.

    BERT gives attention.self.query/key/value and attention.output.dense; MPNet attention.attn.q/k/v/o. Suffixes
    from "attention" on keep the intermediate and output projections (also called "dense") out.
    """
    targets = []
    for name, module in model.named_modules():
        parts = name.split(".")
        if isinstance(module, nn.Linear) and "attention" in parts:
            suffix = ".".join(parts[parts.index("attention"):])
            if suffix not in targets:
                targets.append(suffix)
    return targets


def _check_targets(model: nn.Module, targets: list[str]) -> None:
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    for target in targets:
        if not any(name == target or name.endswith("." + target) for name in names):
            raise TextslimError(f"lora.target_modules: {target!r} matches no Linear layer of the student; "
                                f"attention layers here: {', '.join(attention_targets(model)) or 'none'}")


def build_lora_student(teacher: PreTrainedModel, teacher_tokenizer: PreTrainedTokenizerBase, labels: list[str],
                       cfg: LoraParams) -> tuple[nn.Module, PreTrainedTokenizerBase, dict]:
    """A peft model: the base student (a layer subset of the teacher or the pretrained one) with LoRA adapters."""
    from peft import LoraConfig, TaskType, get_peft_model

    if cfg.base == "pretrained":
        base, tokenizer, _ = build_pretrained_student(cfg.pretrained_model, labels, key="lora.pretrained_model")
    else:
        base, _ = build_layer_student(teacher, cfg.base, cfg.num_layers, key="lora.num_layers")
        tokenizer = teacher_tokenizer
    targets = attention_targets(base) if list(cfg.target_modules) == ["auto"] else list(cfg.target_modules)
    _check_targets(base, targets)
    config = LoraConfig(task_type=TaskType.SEQ_CLS, r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                        target_modules=targets)
    model = get_peft_model(base, config)
    trainable, total = model.get_nb_trainable_parameters()
    return model, tokenizer, {"recipe": "lora", "base": cfg.base, "rank": cfg.rank, "target_modules": targets,
                              "trainable_params": trainable, "total_params": total}


def _build(ctx: BuildContext) -> StudentBuild:
    from textslim.train.losses import LossWeights

    cfg, distill = ctx.section, ctx.params.distill
    model, tokenizer, recipe = build_lora_student(ctx.teacher, ctx.teacher_tokenizer, ctx.labels, cfg)
    train = replace(distill, learning_rate=cfg.learning_rate, head_learning_rate=cfg.learning_rate)
    return StudentBuild(model, tokenizer, train, LossWeights.from_alpha(distill.alpha, distill.temperature), recipe)


def _note(name: str, metrics: dict, teacher_accuracy: float) -> str:
    recipe = metrics["recipe"]
    return (f"- `{name}`: LoRA rank {recipe['rank']} on `{recipe['base']}` trains {recipe['trainable_params']:,} of "
            f"{recipe['total_params']:,} parameters; merged before pruning, so what ships needs no peft.")


register(Recipe("lora", LoraParams, _build, describe=lambda section: f"lora (adapters on {section.base})",
                note=_note))
