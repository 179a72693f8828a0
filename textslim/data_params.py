"""The params sections about data: what is read and split (`data`), and the drift check's texts (`drift`).
textslim.params assembles them with the others."""

from dataclasses import dataclass, field

from textslim.param_types import check_param


@dataclass(frozen=True)
class DataParams:
    source: str = "builtin:rotten-tomatoes"
    text_column: str = "text"
    label_column: str = "label"
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    max_train_samples: int | None = None
    shots_per_class: int | None = None
    # Unlabelled transfer texts (textslim.corpora): files with a text_column, .txt files, or built-in corpora; the
    # teacher labels them for the students (the label_unlabelled stage). unlabelled_max caps them (a seeded draw).
    unlabelled: tuple[str, ...] = ()
    unlabelled_max: int | None = None

    def validate(self) -> None:
        for name in ("validation_fraction", "test_fraction"):
            value = getattr(self, name)
            check_param(0 < value < 0.5, f"data.{name}", "a fraction in (0, 0.5)", value)
        check_param(self.max_train_samples is None or self.max_train_samples > 0,
                    "data.max_train_samples", "null or a positive integer", self.max_train_samples)
        check_param(self.shots_per_class is None or self.shots_per_class > 0,
                    "data.shots_per_class", "null or a positive integer", self.shots_per_class)
        check_param(all(isinstance(s, str) and s.strip() for s in self.unlabelled), "data.unlabelled",
                    "a list of files or builtin: corpora", list(self.unlabelled))
        check_param(self.unlabelled_max is None or self.unlabelled_max > 0,
                    "data.unlabelled_max", "null or a positive integer", self.unlabelled_max)


@dataclass(frozen=True)
class DriftParams:
    """The drift check: labelled texts from another domain than the training data, scored by the teacher and every
    deployable form (textslim.drift)."""

    source: str | None = "auto"  # auto: the built-in pairing for data.source, if it has one; null: no check
    label_map: dict[str, str] = field(default_factory=dict)  # {source label: data label}; other labels are dropped
    text_column: str = "text"
    label_column: str = "label"
    max_texts: int = 3000  # a seeded stratified draw of at most this many
    flag_points: float = 2.0  # flag a form whose off-domain gap to the teacher exceeds its in-domain gap by this

    def validate(self) -> None:
        check_param(self.max_texts >= 10, "drift.max_texts", "an integer >= 10", self.max_texts)
        check_param(self.flag_points > 0, "drift.flag_points", "a positive number of points", self.flag_points)
        check_param(self.source in (None, "auto") or bool(self.label_map), "drift.label_map",
                    "a mapping {source label: data label} when drift.source names a source", self.label_map)
