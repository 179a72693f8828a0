"""Student recipes by name. Each recipe module registers itself here; no other file lists recipe names.

A recipe is a builder (the untrained student, its tokenizer, training settings and loss weights), the dataclass of
its own params section (the section is named like the student, so `distill_student@S` depends on `S` and on the
shared KD settings only), a description for the report, and, where optimum cannot export it, its own exporter.
The registry style is torchdistill's: a module adds itself with `register(...)` at import.
"""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textslim.errors import TextslimError
from textslim.param_types import build_section
from textslim.params import Params


@dataclass
class StudentBuild:
    """What a builder returns: everything the one training loop needs to train this student."""

    model: Any  # a transformers PreTrainedModel (or a peft model, merged after training)
    tokenizer: Any  # the tokenizer the student reads text with: the teacher's or its own
    train: Any  # TrainParams: epochs, learning rates, max_length, ...
    loss: Any  # textslim.train.loop.LossWeights
    recipe: dict  # how it was made, recorded beside the model
    train_rows: list[int] | None = None  # the training rows it distils on; None: all of them
    # An intermediate-layer loss (loss.hidden > 0) runs the teacher in the training step: which student layer
    # matches which teacher layer.
    teacher: Any = None
    layer_map: list[int] | None = None


@dataclass
class BuildContext:
    """What a builder may read: the teacher, the prepared data, the shared params and its own section."""

    teacher: Any
    teacher_tokenizer: Any
    splits: dict
    labels: list[str]
    params: Any  # textslim.params.Params
    section: Any  # this recipe's own params section
    unlabelled_texts: list[str] = field(default_factory=list)  # the transfer set's texts beyond the training split

    @property
    def train_texts(self) -> list[str]:
        return self.splits["train"]["text"].tolist()

    @property
    def transfer_texts(self) -> list[str]:
        """Every text the student distils on: the training split's, then the unlabelled and augmented ones."""
        return self.train_texts + list(self.unlabelled_texts)


@dataclass(frozen=True)
class Recipe:
    name: str
    params_class: type  # the dataclass of the params section named like the recipe
    build: Callable[[BuildContext], StudentBuild]
    describe: Callable[[Any], str]  # its section -> a few words for the report's header
    export: Callable[[Path, Path], Path] | None = None  # (model_dir, out_dir) -> model.onnx; None: optimum
    note: Callable[[str, dict, float], str | None] | None = None  # (name, evaluate metrics, teacher accuracy)


_RECIPES: dict[str, Recipe] = {}


def register(recipe: Recipe) -> Recipe:
    """Add a recipe under its name (a module calls this at import)."""
    if recipe.name in _RECIPES and _RECIPES[recipe.name] != recipe:
        raise ValueError(f"student recipe {recipe.name!r} registered twice")
    _RECIPES[recipe.name] = recipe
    return recipe


def recipe_names() -> list[str]:
    """Every registered recipe name, in registration order."""
    _load_all()
    return list(_RECIPES)


def get_recipe(name: str, key: str = "distill.students") -> Recipe:
    """The recipe registered under name; an unknown name is a one-line error listing the registered ones."""
    _load_all()
    if name not in _RECIPES:
        raise TextslimError(f"{key}: unknown student recipe {name!r}; registered: {', '.join(_RECIPES)}")
    return _RECIPES[name]


def _load_all() -> None:
    """Import every module of textslim.students once, so each recipe has registered itself."""
    import textslim.students  # noqa: F401  (its __init__ imports the recipe modules)


def recipe_section(params: Params, name: str) -> Any:
    """The checked params section of student recipe `name` (its recipe's defaults when params.yaml has none)."""
    section = params.recipes.get(name)
    if section is None or isinstance(section, dict):
        section = build_section(get_recipe(name).params_class, section or {}, name)
        section.validate(name)  # a recipe section's dataclass serves several names (first, spread, ...)
    return section


def check_recipes(params: Params) -> None:
    """Every extra section names a registered recipe, every student has a section, and each section is valid."""
    for name in params.recipes:
        if name not in recipe_names():
            own = [f.name for f in dataclasses.fields(params) if f.name != "recipes"]
            raise TextslimError(f"params: unknown section {name}; known sections: {', '.join(own)}, and one "
                                f"per student recipe: {', '.join(recipe_names())}")
    for student in params.distill.students:
        get_recipe(student)  # an unknown name: one line listing the registered recipes
        if student not in params.recipes:
            raise TextslimError(f"params: distill.students names {student!r} but there is no `{student}:` "
                                f"section (its recipe's settings; its stage depends on it)")
    for name in params.recipes:
        recipe_section(params, name)
