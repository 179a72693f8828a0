"""params.yaml, one frozen dataclass per section, validated before any work starts.

Every check fails with a TextslimError naming the key (`distill.alpha`) and what is allowed.
"""

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from textslim.compress_params import CompressParams, PruneParams  # noqa: F401 (their sections, re-exported)
from textslim.data_params import DataParams, DriftParams  # noqa: F401 (their sections, re-exported)
from textslim.errors import TextslimError
from textslim.param_types import build_section, check_param
from textslim.select_params import SelectParams

QUANTIZE_PRESETS = ("auto", "avx512_vnni", "avx512", "avx2", "arm64")


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
        check_param(self.epochs >= 1, f"{section}.epochs", "an integer >= 1", self.epochs)
        check_param(self.batch_size >= 1, f"{section}.batch_size", "an integer >= 1", self.batch_size)
        check_param(self.max_length >= 8, f"{section}.max_length", "an integer >= 8", self.max_length)
        for name in ("learning_rate", "head_learning_rate"):
            check_param(getattr(self, name) > 0, f"{section}.{name}", "a positive number", getattr(self, name))
        check_param(self.weight_decay >= 0, f"{section}.weight_decay", "a number >= 0", self.weight_decay)
        check_param(0 <= self.warmup_ratio < 1, f"{section}.warmup_ratio", "a fraction in [0, 1)", self.warmup_ratio)
        check_param(self.early_stopping_patience >= 1, f"{section}.early_stopping_patience", "an integer >= 1",
                    self.early_stopping_patience)


TEACHER_RECIPES = ("finetune", "setfit")


@dataclass(frozen=True)
class TeacherParams(TrainParams):
    model: str = "builtin:minilm-l6"
    head_dropout: float = 0.1
    # false: the model is a classifier already fine-tuned for these labels, used as it is (evaluated, its logits
    # computed; nothing trained)
    finetune: bool = True
    # renames from the model's own label names to the data's, where case-insensitive names do not match
    label_map: dict[str, str] = field(default_factory=dict)
    # finetune: the encoder and a classification head trained together (the HF Trainer). setfit: SetFit few-shot
    # training of a sentence-transformers `model` on the labelled training texts (with data.shots_per_class, the
    # rest stay as unlabelled transfer texts); batch_size and max_length apply, the settings below are SetFit's.
    recipe: str = "finetune"
    setfit_iterations: int = 20  # contrastive pairs per labelled text
    setfit_epochs: int = 1
    setfit_learning_rate: float = 2e-5

    def validate(self) -> None:
        self.validate_train("teacher")
        check_param(0 <= self.head_dropout < 1, "teacher.head_dropout", "a fraction in [0, 1)", self.head_dropout)
        check_param(self.recipe in TEACHER_RECIPES, "teacher.recipe", f"one of {', '.join(TEACHER_RECIPES)}",
                    self.recipe)
        check_param(self.finetune or self.recipe == "finetune", "teacher.finetune",
                    "true with teacher.recipe setfit (a SetFit teacher is always trained here)", self.finetune)
        for name in ("setfit_iterations", "setfit_epochs"):
            check_param(getattr(self, name) >= 1, f"teacher.{name}", "an integer >= 1", getattr(self, name))
        check_param(self.setfit_learning_rate > 0, "teacher.setfit_learning_rate", "a number > 0",
                    self.setfit_learning_rate)


@dataclass(frozen=True)
class DistillParams(TrainParams):
    """The KD settings every student shares; each recipe's own settings live in the section named like it."""

    students: tuple[str, ...] = ("spread",)
    # The students' seed (initialisation, data order, SetFit's few-shot sample, pruning's importance sample). The
    # top-level `seed` fixes the split and the teacher, so a sweep over this one never retrains the teacher.
    seed: int = 42
    alpha: float = 0.5
    temperature: float = 2.0

    def validate(self) -> None:
        self.validate_train("distill")
        check_param(len(self.students) > 0, "distill.students", "a non-empty list", list(self.students))
        check_param(len(set(self.students)) == len(self.students), "distill.students", "names without repeats",
                    list(self.students))
        check_param(0 <= self.alpha <= 1, "distill.alpha", "a number in [0, 1]", self.alpha)
        check_param(self.temperature > 0, "distill.temperature", "a number > 0", self.temperature)


@dataclass(frozen=True)
class AugmentParams:
    """The augmented transfer set: training texts with words swapped for GloVe neighbours, labelled by the teacher."""

    size: int = 0  # augmented texts added to every student's transfer set; 0: none
    copies: int = 0  # or: this many augmented copies of every training text (TinyBERT's N); 0: none
    replace_probability: float = 0.4  # each word's chance of being swapped (TinyBERT's p_t)
    neighbours: int = 15  # a swapped word becomes one of its K nearest GloVe words (TinyBERT's K)
    candidate_words: int = 50_000  # neighbours come from GloVe's most frequent words only: no rare debris

    def validate(self) -> None:
        check_param(self.size >= 0, "augment.size", "an integer >= 0 (0: no augmentation)", self.size)
        check_param(self.copies >= 0, "augment.copies", "an integer >= 0 (0: no augmentation)", self.copies)
        check_param(not (self.size and self.copies), "augment.copies",
                    "0 when augment.size is set (one or the other)", self.copies)
        check_param(0 < self.replace_probability <= 1, "augment.replace_probability", "a number in (0, 1]",
                    self.replace_probability)
        check_param(self.neighbours >= 1, "augment.neighbours", "an integer >= 1", self.neighbours)
        check_param(self.candidate_words >= self.neighbours + 1, "augment.candidate_words",
                    "an integer > augment.neighbours", self.candidate_words)


@dataclass(frozen=True)
class ExportParams:
    OPTIMIZATION_LEVELS: typing.ClassVar[tuple[str, ...]] = ("none", "O1", "O2", "O3")  # optimum's; O4 is fp16 (GPU)
    tolerance: float = 1e-4
    parity_texts: int = 64
    optimization: str = "none"

    def validate(self) -> None:
        check_param(self.tolerance > 0, "export_onnx.tolerance", "a number > 0", self.tolerance)
        check_param(self.parity_texts >= 1, "export_onnx.parity_texts", "an integer >= 1", self.parity_texts)
        check_param(self.optimization in self.OPTIMIZATION_LEVELS, "export_onnx.optimization",
                    f"one of {', '.join(self.OPTIMIZATION_LEVELS)}", self.optimization)


@dataclass(frozen=True)
class QuantizeParams:
    MODES: typing.ClassVar[tuple[str, ...]] = ("dynamic", "static", "auto")
    preset: str = "auto"
    per_channel: bool = True  # reports/int8-schemes-default.md
    mode: str = "auto"  # static: activation ranges calibrated on training texts (reports/int8-static-spread.md);
    # auto: both, static kept where it costs neither accuracy, speed nor size (textslim/compress/int8_choice.py)
    calibration_texts: int = 256  # static and auto: training texts the activation ranges come from
    auto_max_drop_points: float = 0.5  # auto: static's validation accuracy at most this below dynamic's
    auto_max_slowdown: float = 0.10  # auto: static's batch-1 latency at most this fraction above dynamic's
    auto_latency_texts: int = 200  # auto: validation texts each mode is timed on at batch 1, interleaved
    auto_max_growth: float = 0.05  # auto: static's model file at most this fraction larger than dynamic's
    embedding_bits: int = 8  # 4: embedding tables at 4 bits, block-wise (textslim/compress/embedding_bits.py)
    embedding_block_size: int = 32  # embedding_bits 4: numbers that share one scale and zero point

    def validate(self) -> None:
        check_param(self.preset in QUANTIZE_PRESETS, "quantize.preset", f"one of {', '.join(QUANTIZE_PRESETS)}",
                    self.preset)
        check_param(self.mode in self.MODES, "quantize.mode", f"one of {', '.join(self.MODES)}", self.mode)
        check_param(self.calibration_texts >= 1, "quantize.calibration_texts", "an integer >= 1",
                    self.calibration_texts)
        check_param(self.auto_max_drop_points >= 0, "quantize.auto_max_drop_points", "a number >= 0",
                    self.auto_max_drop_points)
        check_param(self.auto_max_slowdown >= 0, "quantize.auto_max_slowdown", "a number >= 0",
                    self.auto_max_slowdown)
        check_param(self.auto_latency_texts >= 1, "quantize.auto_latency_texts", "an integer >= 1",
                    self.auto_latency_texts)
        check_param(self.auto_max_growth >= 0, "quantize.auto_max_growth", "a number >= 0", self.auto_max_growth)
        check_param(self.embedding_bits in (4, 8), "quantize.embedding_bits", "4 or 8", self.embedding_bits)
        block = self.embedding_block_size
        check_param(block >= 16 and block & (block - 1) == 0, "quantize.embedding_block_size",
                    "a power of two >= 16", block)


@dataclass(frozen=True)
class EvaluateParams:
    batch_size: int = 64

    def validate(self) -> None:
        check_param(self.batch_size >= 1, "evaluate.batch_size", "an integer >= 1", self.batch_size)


@dataclass(frozen=True)
class BaselineParams:
    """The TF-IDF + logistic-regression grid: every combination is fitted on train and scored on validation."""

    FEATURES: typing.ClassVar[tuple[str, ...]] = ("word", "char", "word+char")

    features: tuple[str, ...] = ("word", "char", "word+char")
    word_ngram_max: tuple[int, ...] = (1, 2)  # word n-grams 1..n (features word and word+char)
    char_ngram_max: tuple[int, ...] = (5,)  # char_wb n-grams 2..n (features char and word+char)
    c: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)  # inverse L2 regularisation

    def validate(self) -> None:
        lists = {"features": (self.features, f"names from {', '.join(self.FEATURES)}", lambda v: v in self.FEATURES),
                 "word_ngram_max": (self.word_ngram_max, "integers >= 1", lambda v: v >= 1),
                 "char_ngram_max": (self.char_ngram_max, "integers >= 2", lambda v: v >= 2),
                 "c": (self.c, "numbers > 0", lambda v: v > 0)}
        for name, (values, allowed, ok) in lists.items():
            check_param(len(values) > 0, f"baseline.{name}", f"a non-empty list of {allowed}", list(values))
            check_param(len(set(values)) == len(values), f"baseline.{name}", f"a list of {allowed} without repeats",
                        list(values))
            for value in values:
                check_param(ok(value), f"baseline.{name}", f"a list of {allowed}", value)


@dataclass(frozen=True)
class CompareParams:
    latency_texts: int = 200
    warmup: int = 20
    throughput_batch_sizes: tuple[int, ...] = (1, 8, 32)  # the headline texts/s is at the largest
    throughput_rounds: int = 3
    threads: int = 0  # 0: every core the machine has
    latency_threads: tuple[int, ...] = (1, 2)  # batch-1 latency at these thread counts too, in the same rotation

    def validate(self) -> None:
        for name in ("latency_texts", "throughput_rounds"):
            check_param(getattr(self, name) >= 1, f"compare.{name}", "an integer >= 1", getattr(self, name))
        for name in ("throughput_batch_sizes", "latency_threads"):
            values = getattr(self, name)
            check_param(len(values) > 0 and all(v >= 1 for v in values), f"compare.{name}",
                        "a non-empty list of integers >= 1", list(values))
        check_param(self.warmup >= 0, "compare.warmup", "an integer >= 0", self.warmup)
        check_param(self.threads >= 0, "compare.threads", "an integer >= 0 (0: all cores)", self.threads)

    def main_threads(self) -> int:
        """The thread count of the headline figures (and of the roofline's peaks)."""
        return self.threads or os.cpu_count() or 1


@dataclass(frozen=True)
class Params:
    seed: int = 42
    data: DataParams = field(default_factory=DataParams)
    teacher: TeacherParams = field(default_factory=TeacherParams)
    distill: DistillParams = field(default_factory=DistillParams)
    augment: AugmentParams = field(default_factory=AugmentParams)
    prune: PruneParams = field(default_factory=PruneParams)
    compress: CompressParams = field(default_factory=CompressParams)
    export_onnx: ExportParams = field(default_factory=ExportParams)
    quantize: QuantizeParams = field(default_factory=QuantizeParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    drift: DriftParams = field(default_factory=DriftParams)
    baseline: BaselineParams = field(default_factory=BaselineParams)
    compare: CompareParams = field(default_factory=CompareParams)
    select: SelectParams = field(default_factory=SelectParams)
    # Student recipe sections by name (`spread`, `lora`, ...), as read: each recipe module owns its section's
    # dataclass, and only the stages that build or describe students import the recipes (so a change to one recipe's
    # code is not a dependency of prepare_data or the teacher). textslim.students.registry checks and reads them:
    # recipe_section(params, name), check_recipes(params).
    recipes: dict[str, Any] = field(default_factory=dict)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and check params.yaml; missing keys take the defaults above.

    Any other top-level mapping is kept as a student recipe's section, checked by
    textslim.students.registry.check_recipes() where students are built or described (and by
    `python -m textslim.students.check_params` before a run).
    """
    path = Path(path)
    if not path.is_file():
        raise TextslimError(f"params file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise TextslimError(f"params file {path} is not valid YAML: {err}".splitlines()[0]) from None
    check_param(isinstance(raw, dict), str(path), "a mapping of sections", type(raw).__name__)
    top = {f.name: f for f in dataclasses.fields(Params) if f.name != "recipes"}
    recipes = {name: value for name, value in raw.items() if name not in top}
    for name, value in recipes.items():
        check_param(isinstance(value, dict), name, "a mapping (a student recipe's section)", value)
    seed = raw.get("seed", 42)
    check_param(isinstance(seed, int) and not isinstance(seed, bool), "seed", "an integer", seed)
    hints = typing.get_type_hints(Params)
    sections = {name: build_section(hints[name], raw.get(name) or {}, name) for name in top if name != "seed"}
    params = Params(seed=seed, **sections, recipes=recipes)
    for name, section in sections.items():
        if name == "compress":  # each variant is the prune section with some keys changed
            section.validate(params.prune)
        else:
            section.validate()
    return params
