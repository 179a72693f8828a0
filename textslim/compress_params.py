"""The params sections about compression: `prune` (what the prune stage removes) and `compress` (the variants every
student is compressed as, each the prune section with some keys changed). textslim.params assembles them with the
others."""

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textslim.errors import TextslimError
from textslim.param_types import build_section, check_param

PRUNE_METHODS = ("structured", "unstructured", "none")
VOCABULARIES = ("training", "full")


@dataclass(frozen=True)
class PruneParams:
    method: str = "structured"  # structured: whole heads and FFN neurons; unstructured: L1 zeros; none
    head_fraction: float = 0.5  # structured: attention heads removed, ranked globally across layers
    ffn_fraction: float = 0.75  # structured: FFN intermediate neurons removed in every layer
    amount: float = 0.3  # unstructured: global L1 sparsity of the encoder's Linear weights
    importance_texts: int = 1024  # structured: training texts the head and neuron importance is measured on
    recovery_epochs: int = 1  # structured: distillation from the teacher's logits after pruning; 0: none
    # structured: the heads and neurons removed in this many equal steps, each scored afresh on the model as the last
    # step left it and followed by its own recovery_epochs (gradual pruning); 1: all at once
    steps: int = 1
    recovery_learning_rate: float = 1e-4
    # structured: weight of the MSE between each pruned layer's hidden states and the same layer's in the student as
    # it was before pruning (CoFi's layer distillation), added to the recovery's KD loss; 0: the teacher's logits only
    recovery_hidden_weight: float = 0.0
    vocabulary: str = "training"  # training: keep the tokens the training texts use (+ single characters); full
    # text files (one text per line) or built-in corpora (builtin:news-sentences) whose tokens are kept too: one or
    # a list
    extra_vocabulary: str | tuple[str, ...] | None = None

    def validate(self) -> None:
        check_param(self.method in PRUNE_METHODS, "prune.method", f"one of {', '.join(PRUNE_METHODS)}", self.method)
        for name in ("head_fraction", "ffn_fraction", "amount"):
            check_param(0 <= getattr(self, name) < 1, f"prune.{name}", "a fraction in [0, 1)", getattr(self, name))
        check_param(self.importance_texts >= 1, "prune.importance_texts", "an integer >= 1", self.importance_texts)
        check_param(self.steps >= 1, "prune.steps", "an integer >= 1", self.steps)
        check_param(self.recovery_epochs >= 0, "prune.recovery_epochs", "an integer >= 0", self.recovery_epochs)
        check_param(self.recovery_learning_rate > 0, "prune.recovery_learning_rate", "a number > 0",
                    self.recovery_learning_rate)
        check_param(self.recovery_hidden_weight >= 0, "prune.recovery_hidden_weight", "a number >= 0",
                    self.recovery_hidden_weight)
        check_param(self.vocabulary in VOCABULARIES, "prune.vocabulary", f"one of {', '.join(VOCABULARIES)}",
                    self.vocabulary)
        for source in self.extra_vocabularies:  # a built-in's name is checked where it is read (textslim.corpora)
            check_param(source.startswith("builtin:") or Path(source).is_file(), "prune.extra_vocabulary",
                        "null, an existing text file (one text per line), a builtin: corpus, or a list of them",
                        self.extra_vocabulary)

    @property
    def extra_vocabularies(self) -> tuple[str, ...]:
        """prune.extra_vocabulary as a tuple, whichever form params gave it in."""
        extra = self.extra_vocabulary
        return () if extra is None else (extra,) if isinstance(extra, str) else extra


_VARIANT_NAME = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class CompressParams:
    """The compression variants every student goes through, each its own chain of prune, export_onnx, quantize and
    evaluate stages (a DVC matrix: prune@spread-heavy, ...). Variant V of student S is named S.V in folders and
    metrics (models/quantized/spread.heavy, spread.heavy-int8); its prune settings are the prune section with
    settings[V]'s keys changed."""

    variants: tuple[str, ...] = ("heavy",)
    settings: dict[str, dict[str, Any]] = field(default_factory=lambda: {"heavy": {}})  # heavy: the prune section

    def validate(self, base: PruneParams | None = None) -> None:
        check_param(len(self.variants) > 0, "compress.variants", "a non-empty list of variant names",
                    list(self.variants))
        check_param(len(set(self.variants)) == len(self.variants), "compress.variants", "names without repeats",
                    list(self.variants))
        for name in self.variants:
            check_param(isinstance(name, str) and bool(_VARIANT_NAME.fullmatch(name)), "compress.variants",
                        "names of letters, digits, '_' and '-' (a '.' joins student and variant)", name)
            check_param(name in self.settings, f"compress.settings.{name}",
                        "a mapping of prune settings for every listed variant ({} for the prune section as it is)",
                        None)
        for name in self.variants:
            self.prune_settings(base or PruneParams(), name)

    def prune_settings(self, base: PruneParams, variant: str) -> PruneParams:
        """The prune section with the variant's keys changed, checked like the section itself (its errors name
        compress.settings.V)."""
        merged = build_section(PruneParams, {**dataclasses.asdict(base), **self.settings[variant]},
                               f"compress.settings.{variant}")
        try:
            merged.validate()
        except TextslimError as err:  # the value came from the variant, not from the prune section
            raise TextslimError(f"{err} (in compress.settings.{variant})") from None
        return merged

    def chains(self, students: tuple[str, ...]) -> list[str]:
        """Every (student, variant) chain's name, S.V, student by student."""
        return [f"{student}.{variant}" for student in students for variant in self.variants]
