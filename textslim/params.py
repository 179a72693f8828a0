"""params.yaml, one frozen dataclass per section, validated before any work starts.

Every check fails with a TextslimError naming the key (`distill.alpha`) and what is allowed.
"""

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from textslim.errors import TextslimError

LAYER_STRATEGIES = ("first", "last", "odd", "even", "spread")
STUDENT_RECIPES = (*LAYER_STRATEGIES, "pretrained", "lora", "setfit", "lstm")
QUANTIZE_PRESETS = ("auto", "avx512_vnni", "avx512", "avx2", "arm64")


def _check(ok: bool, key: str, allowed: str, value: Any) -> None:
    if not ok:
        raise TextslimError(f"params: {key} = {value!r} is not allowed; expected {allowed}")


@dataclass(frozen=True)
class DataParams:
    source: str = "builtin:rotten-tomatoes"
    text_column: str = "text"
    label_column: str = "label"
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    max_train_samples: int | None = None
    shots_per_class: int | None = None

    def validate(self) -> None:
        for name in ("validation_fraction", "test_fraction"):
            value = getattr(self, name)
            _check(0 < value < 0.5, f"data.{name}", "a fraction in (0, 0.5)", value)
        _check(self.max_train_samples is None or self.max_train_samples > 0,
               "data.max_train_samples", "null or a positive integer", self.max_train_samples)
        _check(self.shots_per_class is None or self.shots_per_class > 0,
               "data.shots_per_class", "null or a positive integer", self.shots_per_class)


@dataclass(frozen=True)
class TrainParams:
    """What the one training loop needs; the teacher and the students each have a section of this shape."""

    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 5e-5
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_length: int = 64
    early_stopping_patience: int = 1

    def validate_train(self, section: str) -> None:
        _check(self.epochs >= 1, f"{section}.epochs", "an integer >= 1", self.epochs)
        _check(self.batch_size >= 1, f"{section}.batch_size", "an integer >= 1", self.batch_size)
        _check(self.max_length >= 8, f"{section}.max_length", "an integer >= 8", self.max_length)
        for name in ("learning_rate", "head_learning_rate"):
            _check(getattr(self, name) > 0, f"{section}.{name}", "a positive number", getattr(self, name))
        _check(0 <= self.warmup_ratio < 1, f"{section}.warmup_ratio", "a fraction in [0, 1)", self.warmup_ratio)
        _check(self.early_stopping_patience >= 1, f"{section}.early_stopping_patience", "an integer >= 1",
               self.early_stopping_patience)


@dataclass(frozen=True)
class TeacherParams(TrainParams):
    model: str = "builtin:minilm-l6"
    head_dropout: float = 0.1

    def validate(self) -> None:
        self.validate_train("teacher")
        _check(0 <= self.head_dropout < 1, "teacher.head_dropout", "a fraction in [0, 1)", self.head_dropout)


@dataclass(frozen=True)
class DistillParams(TrainParams):
    students: tuple[str, ...] = ("spread",)
    num_layers: int = 3
    alpha: float = 0.5
    temperature: float = 2.0
    pretrained_model: str = "builtin:minilm-l6"

    def validate(self) -> None:
        self.validate_train("distill")
        _check(len(self.students) > 0, "distill.students", "a non-empty list", list(self.students))
        for name in self.students:
            _check(name in STUDENT_RECIPES, "distill.students", f"names from {', '.join(STUDENT_RECIPES)}", name)
        _check(self.num_layers >= 1, "distill.num_layers", "an integer >= 1", self.num_layers)
        _check(0 <= self.alpha <= 1, "distill.alpha", "a number in [0, 1]", self.alpha)
        _check(self.temperature > 0, "distill.temperature", "a number > 0", self.temperature)


@dataclass(frozen=True)
class LoraParams:
    base: str = "spread"  # a layer strategy (a k-layer copy of the teacher) or "pretrained"
    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.1
    target_modules: tuple[str, ...] = ("auto",)  # "auto": every Linear inside the attention blocks
    learning_rate: float = 5e-4

    def validate(self) -> None:
        bases = (*LAYER_STRATEGIES, "pretrained")
        _check(self.base in bases, "lora.base", f"one of {', '.join(bases)}", self.base)
        _check(self.rank >= 1, "lora.rank", "an integer >= 1", self.rank)
        _check(self.alpha > 0, "lora.alpha", "a number > 0", self.alpha)
        _check(0 <= self.dropout < 1, "lora.dropout", "a fraction in [0, 1)", self.dropout)
        _check(self.learning_rate > 0, "lora.learning_rate", "a number > 0", self.learning_rate)
        _check(len(self.target_modules) > 0, "lora.target_modules", "[auto] or module name suffixes",
               list(self.target_modules))


@dataclass(frozen=True)
class LstmParams(TrainParams):
    """The BiLSTM student trains with its own loop settings: it starts from scratch, not from a teacher."""

    epochs: int = 6
    batch_size: int = 64
    learning_rate: float = 2e-3
    head_learning_rate: float = 2e-3
    warmup_ratio: float = 0.0
    early_stopping_patience: int = 2
    embeddings: str = "word2vec"  # word2vec (trained on the training texts) | builtin:glove-6b-50d
    embedding_dim: int = 100
    hidden_size: int = 128
    dropout: float = 0.3
    min_count: int = 2
    max_vocab: int = 30000
    soft_weight: float = 0.5  # T^2 * KL(teacher_T || student_T)
    hard_weight: float = 0.25  # CE against the gold labels
    sequence_weight: float = 0.25  # CE against the teacher's argmax

    def validate(self) -> None:
        self.validate_train("lstm")
        for name in ("embedding_dim", "hidden_size", "min_count", "max_vocab"):
            _check(getattr(self, name) >= 1, f"lstm.{name}", "an integer >= 1", getattr(self, name))
        _check(0 <= self.dropout < 1, "lstm.dropout", "a fraction in [0, 1)", self.dropout)
        weights = {"soft_weight": self.soft_weight, "hard_weight": self.hard_weight,
                   "sequence_weight": self.sequence_weight}
        for name, value in weights.items():
            _check(value >= 0, f"lstm.{name}", "a number >= 0", value)
        _check(sum(weights.values()) > 0, "lstm.soft_weight/hard_weight/sequence_weight", "not all zero",
               list(weights.values()))


@dataclass(frozen=True)
class SetfitParams(TrainParams):
    """The SetFit student: contrastive few-shot training of a sentence-transformers body, then distillation.

    The train fields (epochs, learning rates, ...) are the distillation phase's; the contrastive phase has its own.
    """

    body: str = "builtin:minilm-l6"  # a sentence-transformers model: a built-in or a local directory
    shots_per_class: int = 8  # labelled training examples per class for the few-shot phase
    num_iterations: int = 20  # SetFit's contrastive pairs per labelled example
    contrastive_epochs: int = 1
    contrastive_batch_size: int = 16
    contrastive_learning_rate: float = 2e-5
    epochs: int = 2
    learning_rate: float = 1e-4
    head_learning_rate: float = 1e-3

    def validate(self) -> None:
        self.validate_train("setfit")
        for name in ("shots_per_class", "num_iterations", "contrastive_epochs", "contrastive_batch_size"):
            _check(getattr(self, name) >= 1, f"setfit.{name}", "an integer >= 1", getattr(self, name))
        _check(self.contrastive_learning_rate > 0, "setfit.contrastive_learning_rate", "a number > 0",
               self.contrastive_learning_rate)


@dataclass(frozen=True)
class PruneParams:
    amount: float = 0.3

    def validate(self) -> None:
        _check(0 <= self.amount < 1, "prune.amount", "a fraction in [0, 1)", self.amount)


@dataclass(frozen=True)
class ExportParams:
    tolerance: float = 1e-4
    parity_texts: int = 64

    def validate(self) -> None:
        _check(self.tolerance > 0, "export_onnx.tolerance", "a number > 0", self.tolerance)
        _check(self.parity_texts >= 1, "export_onnx.parity_texts", "an integer >= 1", self.parity_texts)


@dataclass(frozen=True)
class QuantizeParams:
    preset: str = "auto"
    per_channel: bool = True  # reports/int8-schemes-default.md

    def validate(self) -> None:
        _check(self.preset in QUANTIZE_PRESETS, "quantize.preset", f"one of {', '.join(QUANTIZE_PRESETS)}",
               self.preset)


@dataclass(frozen=True)
class EvaluateParams:
    batch_size: int = 64

    def validate(self) -> None:
        _check(self.batch_size >= 1, "evaluate.batch_size", "an integer >= 1", self.batch_size)


@dataclass(frozen=True)
class BaselineParams:
    ngram_max: int = 2
    c: float = 4.0

    def validate(self) -> None:
        _check(self.ngram_max >= 1, "baseline.ngram_max", "an integer >= 1", self.ngram_max)
        _check(self.c > 0, "baseline.c", "a number > 0", self.c)


@dataclass(frozen=True)
class CompareParams:
    latency_texts: int = 200
    warmup: int = 20
    throughput_batch_size: int = 32
    throughput_rounds: int = 3
    threads: int = 0  # 0: every core the machine has

    def validate(self) -> None:
        for name in ("latency_texts", "throughput_batch_size", "throughput_rounds"):
            _check(getattr(self, name) >= 1, f"compare.{name}", "an integer >= 1", getattr(self, name))
        _check(self.warmup >= 0, "compare.warmup", "an integer >= 0", self.warmup)
        _check(self.threads >= 0, "compare.threads", "an integer >= 0 (0: all cores)", self.threads)


@dataclass(frozen=True)
class Params:
    seed: int = 42
    data: DataParams = field(default_factory=DataParams)
    teacher: TeacherParams = field(default_factory=TeacherParams)
    distill: DistillParams = field(default_factory=DistillParams)
    lora: LoraParams = field(default_factory=LoraParams)
    setfit: SetfitParams = field(default_factory=SetfitParams)
    lstm: LstmParams = field(default_factory=LstmParams)
    prune: PruneParams = field(default_factory=PruneParams)
    export_onnx: ExportParams = field(default_factory=ExportParams)
    quantize: QuantizeParams = field(default_factory=QuantizeParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    baseline: BaselineParams = field(default_factory=BaselineParams)
    compare: CompareParams = field(default_factory=CompareParams)


T = TypeVar("T")
_YAML11_EXPONENT = re.compile(r"[-+]?[0-9]+(\.[0-9]*)?[eE][-+]?[0-9]+")


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check a YAML value against a dataclass field's type; ints are accepted where floats are expected."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        annotation = next(a for a in options if a is not type(None))
        origin = typing.get_origin(annotation)
    if origin is tuple:
        _check(isinstance(value, list | tuple), key, "a list", value)
        return tuple(_coerce(v, typing.get_args(annotation)[0], key) for v in value)
    if annotation is float:
        if isinstance(value, str) and _YAML11_EXPONENT.fullmatch(value):
            value = float(value)  # `dvc exp run -S lr=3e-5` writes 3e-05, which PyYAML (YAML 1.1) reads as a string
        _check(isinstance(value, int | float) and not isinstance(value, bool), key, "a number", value)
        return float(value)
    if annotation is int:
        _check(isinstance(value, int) and not isinstance(value, bool), key, "an integer", value)
        return value
    if annotation is bool:
        _check(isinstance(value, bool), key, "true or false", value)
        return value
    if annotation is str:
        _check(isinstance(value, str), key, "a string", value)
        return value
    return value


def _build(cls: type[T], raw: Any, section: str) -> T:
    _check(isinstance(raw, dict), section, "a mapping", raw)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise TextslimError(f"params: unknown key {section}.{unknown[0]}; known keys: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    values = {name: _coerce(value, hints[name], f"{section}.{name}") for name, value in raw.items()}
    return cls(**values)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml; missing keys take the defaults above."""
    path = Path(path)
    if not path.is_file():
        raise TextslimError(f"params file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise TextslimError(f"params file {path} is not valid YAML: {err}".splitlines()[0]) from None
    _check(isinstance(raw, dict), str(path), "a mapping of sections", type(raw).__name__)
    top = {f.name: f for f in dataclasses.fields(Params)}
    unknown = sorted(set(raw) - set(top))
    if unknown:
        raise TextslimError(f"params: unknown section {unknown[0]}; known sections: {', '.join(top)}")
    seed = raw.get("seed", 42)
    _check(isinstance(seed, int) and not isinstance(seed, bool), "seed", "an integer", seed)
    hints = typing.get_type_hints(Params)
    sections = {name: _build(hints[name], raw.get(name) or {}, name) for name in top if name != "seed"}
    params = Params(seed=seed, **sections)
    for name in sections:
        getattr(params, name).validate()
    return params
