"""LoRA students (peft): low-rank adapters on a student's attention, trained with the KD loss, then merged.

Merging before pruning and export means what is deployed is a plain model that needs no peft.
"""

from dataclasses import replace

from peft import LoraConfig, TaskType, get_peft_model
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from textslim.errors import TextslimError
from textslim.params import Params
from textslim.students.layers import build_layer_student
from textslim.students.pretrained import build_pretrained_student


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
                       params: Params) -> tuple[nn.Module, PreTrainedTokenizerBase, dict]:
    """A peft model: the base student (a layer subset of the teacher or the pretrained one) with LoRA adapters."""
    cfg = params.lora
    if cfg.base == "pretrained":
        base, tokenizer, _ = build_pretrained_student(params.distill.pretrained_model, labels)
    else:
        base, _ = build_layer_student(teacher, cfg.base, params.distill.num_layers)
        tokenizer = teacher_tokenizer
    targets = attention_targets(base) if list(cfg.target_modules) == ["auto"] else list(cfg.target_modules)
    _check_targets(base, targets)
    config = LoraConfig(task_type=TaskType.SEQ_CLS, r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                        target_modules=targets)
    model = get_peft_model(base, config)
    trainable, total = model.get_nb_trainable_parameters()
    return model, tokenizer, {"recipe": "lora", "base": cfg.base, "rank": cfg.rank, "target_modules": targets,
                              "trainable_params": trainable, "total_params": total}


def lora_train_params(params: Params):
    """Adapters learn at their own rate: LoRA wants a larger step than full fine-tuning."""
    return replace(params.distill, learning_rate=params.lora.learning_rate,
                   head_learning_rate=params.lora.learning_rate)
