"""Layer-subset students: a shallower copy of the teacher that keeps k chosen encoder layers.

Five recipes, one per strategy, each with its own params section (`spread: {num_layers: 3}`). Layer indices are
0-based: `odd` keeps 1, 3, 5, ...; `even` keeps 0, 2, 4, ...
"""

import copy
from dataclasses import dataclass

import numpy as np
from torch import nn
from transformers import AutoModelForSequenceClassification, PreTrainedModel

from textslim.errors import TextslimError
from textslim.params import check_param
from textslim.students.registry import BuildContext, Recipe, StudentBuild, register

STRATEGIES = ("first", "last", "odd", "even", "spread")


def find_layer_list(model: PreTrainedModel) -> tuple[str, nn.ModuleList]:
    """The encoder's list of transformer layers, found generically (BERT, MPNet, RoBERTa, ... alike)."""
    depth = model.config.num_hidden_layers
    candidates = [(name, module) for name, module in model.named_modules()
                  if isinstance(module, nn.ModuleList) and len(module) == depth and name.endswith("layer")]
    if len(candidates) != 1:
        raise TextslimError(f"cannot find the encoder's layer list in {type(model).__name__} "
                            f"(expected one ModuleList of {depth} layers named '*layer')")
    return candidates[0]


def _spread(candidates: list[int], k: int) -> list[int]:
    """k of the candidates, evenly spaced, first and last kept."""
    if k == 1:
        return [candidates[-1]]
    picks = np.round(np.linspace(0, len(candidates) - 1, k)).astype(int)
    return [candidates[i] for i in picks]


def select_layers(strategy: str, teacher_depth: int, k: int, key: str | None = None) -> list[int]:
    """The teacher layer indices a k-layer student keeps under a strategy; key names the param in errors."""
    key = key or f"{strategy}.num_layers"
    if not 1 <= k < teacher_depth:
        raise TextslimError(f"{key} = {k}: must be between 1 and {teacher_depth - 1} "
                            f"for a {teacher_depth}-layer teacher")
    everything = list(range(teacher_depth))
    pools = {"first": everything[:k], "last": everything[-k:], "odd": everything[1::2],
             "even": everything[0::2], "spread": everything}
    if strategy not in pools:
        raise TextslimError(f"distill.students: unknown layer strategy {strategy!r}; "
                            f"one of {', '.join(pools)}")
    pool = pools[strategy]
    if len(pool) < k:
        raise TextslimError(f"{key} = {k}: the {strategy} strategy has only {len(pool)} layers "
                            f"to choose from in a {teacher_depth}-layer teacher")
    return pool if len(pool) == k else _spread(pool, k)


def build_layer_student(teacher: PreTrainedModel, strategy: str, k: int,
                        key: str | None = None) -> tuple[PreTrainedModel, list[int]]:
    """A k-layer student with the chosen teacher layers, embeddings and head copied weight for weight."""
    layers = select_layers(strategy, teacher.config.num_hidden_layers, k, key)
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = k
    student = AutoModelForSequenceClassification.from_config(config)
    layer_path, _ = find_layer_list(teacher)
    teacher_state = teacher.state_dict()
    student_state = {}
    for name in student.state_dict():
        source = name
        if name.startswith(layer_path + "."):
            index, rest = name[len(layer_path) + 1:].split(".", 1)
            source = f"{layer_path}.{layers[int(index)]}.{rest}"
        student_state[name] = teacher_state[source].clone()
    student.load_state_dict(student_state, strict=True)
    return student, layers


@dataclass(frozen=True)
class LayerParams:
    """A layer-subset student's own section: how many teacher layers it keeps, and its intermediate-layer loss."""

    num_layers: int = 3
    hidden_weight: float = 0.0  # weight of the MSE between matched hidden states (TinyBERT); 0: logits only
    hidden_layer_map: tuple[int, ...] | None = None  # the teacher layer each student layer is matched to;
    # None: the layer it was copied from

    def validate(self, section: str) -> None:
        check_param(self.num_layers >= 1, f"{section}.num_layers", "an integer >= 1", self.num_layers)
        check_param(self.hidden_weight >= 0, f"{section}.hidden_weight", "a number >= 0", self.hidden_weight)
        check_param(self.hidden_layer_map is None or len(self.hidden_layer_map) == self.num_layers,
                    f"{section}.hidden_layer_map", f"null or {self.num_layers} teacher layer indices (one per "
                    "student layer)", self.hidden_layer_map)


def layer_map(section: LayerParams, kept: list[int], teacher_depth: int, name: str) -> list[int]:
    """The teacher layer each student layer's hidden states are matched to; one outside the teacher is named."""
    mapping = list(section.hidden_layer_map) if section.hidden_layer_map is not None else kept
    for index in mapping:
        check_param(0 <= index < teacher_depth, f"{name}.hidden_layer_map",
                    f"indices of the teacher's {teacher_depth} layers (0 to {teacher_depth - 1})", mapping)
    return mapping


def _register(strategy: str) -> None:
    def build(ctx: BuildContext) -> StudentBuild:
        from dataclasses import replace

        from textslim.train.losses import LossWeights

        cfg = ctx.section
        depth = ctx.teacher.config.num_hidden_layers
        mapping = layer_map(cfg, select_layers(strategy, depth, cfg.num_layers), depth, strategy)  # checked first
        student, layers = build_layer_student(ctx.teacher, strategy, cfg.num_layers)
        kd = replace(LossWeights.from_alpha(ctx.params.distill.alpha, ctx.params.distill.temperature),
                     hidden=cfg.hidden_weight)
        recipe = {"recipe": "layers", "teacher_layers": layers}
        if cfg.hidden_weight:
            recipe["hidden_layer_map"] = mapping
        return StudentBuild(student, ctx.teacher_tokenizer, ctx.params.distill, kd, recipe,
                            teacher=ctx.teacher if cfg.hidden_weight else None,
                            layer_map=mapping if cfg.hidden_weight else None)

    def describe(section: LayerParams) -> str:
        loss = f", hidden-state loss × {section.hidden_weight:g}" if section.hidden_weight else ""
        return f"{strategy} ({section.num_layers} teacher layers{loss})"

    register(Recipe(strategy, LayerParams, build, describe=describe))


for _strategy in STRATEGIES:
    _register(_strategy)
