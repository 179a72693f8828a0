"""The params section `select`: the user's budget, which the select stage picks the deployed model under."""

import typing
from dataclasses import dataclass

from textslim.param_types import check_param


@dataclass(frozen=True)
class SelectParams:
    OBJECTIVES: typing.ClassVar[tuple[str, ...]] = ("balanced", "latency", "size")

    # Among the forms that meet every limit: balanced: the one whose batch-1 time and size, as fractions of the PyTorch
    # teacher's, have the least larger one (the most "N x faster and N x smaller"); latency: the fastest at batch 1;
    # size: the smallest. Balanced by default: where fp32 graphs are the fastest (the Xeon runs), latency deploys a
    # form 1.8x smaller than the teacher to save 0.1-0.3 ms over a 5x smaller INT8 one.
    objective: str = "balanced"
    # Every limit is null (no limit) or a number. Accuracy limits are drops in points from the PyTorch teacher, on the
    # validation split (never on test); speed and size are the compare stage's figures on this machine.
    max_drop_points: float | None = 1.0
    max_batch1_ms: float | None = None
    min_speedup: float | None = None  # batch-1 speedup over the PyTorch teacher
    max_size_mb: float | None = None
    # The same kind of bound on the drift check's texts (another domain): a pick must not fall apart there. Not
    # applied where the data has no drift check.
    max_drift_drop_points: float | None = 2.0
    strict: bool = False  # true: nothing meets the budget -> exit 2, nothing deployed; false: deploy the closest
    # objectives latency and balanced: forms within this fraction of the best figure among those meeting the budget
    # count as tied, and the more accurate on validation wins. Graphs of one shape (first/spread/lora.heavy-int8) were
    # timed 0.999-1.077 ms in one compare run (8% apart): a smaller gap does not say which is faster. 0: exact ties.
    # Not applied to objective size: a file's size does not vary run to run.
    tie_within: float = 0.10

    def validate(self) -> None:
        check_param(self.objective in self.OBJECTIVES, "select.objective", f"one of {', '.join(self.OBJECTIVES)}",
                    self.objective)
        for name in ("max_drop_points", "max_drift_drop_points"):
            value = getattr(self, name)
            check_param(value is None or value >= 0, f"select.{name}", "null or a number of points >= 0", value)
        check_param(0 <= self.tie_within < 1, "select.tie_within", "a fraction >= 0 and < 1", self.tie_within)
        for name in ("max_batch1_ms", "min_speedup", "max_size_mb"):
            value = getattr(self, name)
            check_param(value is None or value > 0, f"select.{name}", "null or a number > 0", value)
