"""Student recipes by name. Each strategy name in `distill.students` resolves to a builder here."""

from textslim.params import LAYER_STRATEGIES

STUDENT_RECIPES = {name: "layers" for name in LAYER_STRATEGIES}
