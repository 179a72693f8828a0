"""Layer-subset students: a shallower copy of the teacher that keeps k chosen encoder layers.

Layer indices are 0-based: `odd` keeps 1, 3, 5, ...; `even` keeps 0, 2, 4, ...
"""

import copy

import numpy as np
from torch import nn
from transformers import AutoModelForSequenceClassification, PreTrainedModel

from textslim.errors import TextslimError


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


def select_layers(strategy: str, teacher_depth: int, k: int) -> list[int]:
    """The teacher layer indices a k-layer student keeps under a strategy."""
    if not 1 <= k < teacher_depth:
        raise TextslimError(f"distill.num_layers = {k}: must be between 1 and {teacher_depth - 1} "
                            f"for a {teacher_depth}-layer teacher")
    everything = list(range(teacher_depth))
    pools = {"first": everything[:k], "last": everything[-k:], "odd": everything[1::2],
             "even": everything[0::2], "spread": everything}
    if strategy not in pools:
        raise TextslimError(f"distill.students: unknown layer strategy {strategy!r}; "
                            f"one of {', '.join(pools)}")
    pool = pools[strategy]
    if len(pool) < k:
        raise TextslimError(f"distill.num_layers = {k}: the {strategy} strategy has only {len(pool)} layers "
                            f"to choose from in a {teacher_depth}-layer teacher")
    return pool if len(pool) == k else _spread(pool, k)


def build_layer_student(teacher: PreTrainedModel, strategy: str, k: int) -> tuple[PreTrainedModel, list[int]]:
    """A k-layer student with the chosen teacher layers, embeddings and head copied weight for weight."""
    layers = select_layers(strategy, teacher.config.num_hidden_layers, k)
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
