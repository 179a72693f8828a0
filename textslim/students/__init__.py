"""Student recipes by name: each name in `distill.students` resolves to a builder here."""

from transformers import PreTrainedModel

from textslim.errors import TextslimError
from textslim.params import LAYER_STRATEGIES, DistillParams
from textslim.students.layers import build_layer_student


def build_student(name: str, teacher: PreTrainedModel, cfg: DistillParams) -> tuple[PreTrainedModel, dict]:
    """The untrained student for a recipe name, and a description of how it was made."""
    if name in LAYER_STRATEGIES:
        student, layers = build_layer_student(teacher, name, cfg.num_layers)
        return student, {"recipe": "layers", "teacher_layers": layers}
    raise TextslimError(f"distill.students: unknown recipe {name!r}; known: {', '.join(LAYER_STRATEGIES)}")
