"""Student recipes: every module of this package is imported here, and each recipe module registers itself
(textslim.students.registry). Adding a recipe means adding one module and one params section.

Every recipe then goes through the same training loop (textslim.train.loop.train_classifier).
"""

import importlib
import pkgutil
from collections.abc import Sequence

from textslim.students.registry import BuildContext, StudentBuild, get_recipe, recipe_section

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")


def build_student(name: str, teacher, teacher_tokenizer, splits: dict, labels: list[str], params,
                  unlabelled_texts: Sequence[str] = ()) -> StudentBuild:
    """The untrained student for a recipe name; its params are checked before anything slow happens.
    unlabelled_texts: the transfer set's texts beyond the training split (a recipe that learns a vocabulary reads
    them too)."""
    recipe = get_recipe(name)
    context = BuildContext(teacher, teacher_tokenizer, splits, labels, params, recipe_section(params, name),
                           list(unlabelled_texts))
    return recipe.build(context)


__all__ = ["BuildContext", "StudentBuild", "build_student", "get_recipe"]
