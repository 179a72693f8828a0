"""Pick the model to deploy under the user's budget (params `select`), from the compare stage's summary rows.

Candidates are the deployable forms: every ONNX form of every student and of the teacher (what ONNX Runtime, optimum's
ORTModelForSequenceClassification and the server run). Accuracy limits are read on the validation split, never on
test; latency and size are the compare stage's measurements on this machine. No library does budgeted selection over
measured rows, hence this small module.
"""

from dataclasses import dataclass

from textslim.errors import TextslimError
from textslim.forms import ONNX_FP32, ONNX_INT8, Form
from textslim.select_params import SelectParams

DEPLOYABLE_FORMS = (ONNX_FP32.name, ONNX_INT8.name)
# The select stage's pick: one ONNX graph named model.onnx (ORTModelForSequenceClassification's default file), fp32 or
# INT8 as chosen, in models/deploy; its textslim_deploy.json names the variant. Not in textslim.forms.FORMS, which
# holds the forms a summary row can name: this one is a copy of one of them.
DEPLOYED = Form("deployed", "model.onnx", "onnxruntime", "deployed", "deploy", per_model=False)
TEACHER = "teacher"  # the PyTorch teacher's row: the reference of every accuracy limit


@dataclass(frozen=True)
class Miss:
    """One limit a variant fails: its figure, the limit, and by how much relative to the limit."""

    limit: str  # the params key, e.g. max_batch1_ms
    value: float
    bound: float
    relative: float  # (how far past the limit) / the limit's scale: ranks the closest variant when none meets

    def describe(self) -> str:
        unit = {"max_drop_points": " points below the teacher on validation",
                "max_drift_drop_points": " points below the teacher off the domain",
                "max_batch1_ms": " ms at batch 1", "min_speedup": "x the teacher's speed",
                "max_size_mb": " MB"}[self.limit]
        relation = "under" if self.limit == "min_speedup" else "over"
        return f"{self.value:g}{unit} ({relation} {self.limit} {self.bound:g})"


@dataclass(frozen=True)
class Selection:
    pick: dict  # the chosen summary row
    met: bool  # False: nothing met the budget, and this is the closest
    misses: tuple[Miss, ...]  # what the pick misses (empty when met)
    binding: dict | None  # what stops the next better variant (by the objective); None when the pick is the best
    candidates: list[dict]  # every deployable row with what it misses, best objective first
    drift_applied: bool
    # the best by the objective within the budget, when the pick is another form tied with it (select.tie_within)
    # and more accurate on validation: {"variant", the objective's key: its figure, "within"}; None otherwise
    tie: dict | None = None


def _figures(row: dict, teacher: dict) -> dict:
    """The figures the limits read, for one row: drops in points from the teacher, batch-1 ms, speedup, MB."""
    figures = {"max_drop_points": round(100 * (teacher["validation_accuracy"] - row["validation_accuracy"]), 2),
               "max_batch1_ms": row["batch1_ms_median"], "min_speedup": row["speedup_vs_teacher"],
               "max_size_mb": row["size_mb"]}
    if "drift_accuracy" in row and "drift_accuracy" in teacher:
        figures["max_drift_drop_points"] = round(100 * (teacher["drift_accuracy"] - row["drift_accuracy"]), 2)
    return figures


def misses(row: dict, teacher: dict, budget: SelectParams) -> list[Miss]:
    """Every limit of the budget the row fails (a limit that is null, or has no figure here, is not checked)."""
    found = []
    for limit, value in _figures(row, teacher).items():
        bound = getattr(budget, limit)
        if bound is None:
            continue
        if limit == "min_speedup":
            if value < bound:
                found.append(Miss(limit, value, bound, bound / value - 1))
        elif value > bound:
            # points: a 1-point miss weighs like being 2x over a time or size limit; the scale only ranks misses
            scale = 1.0 if limit.endswith("_points") else bound
            found.append(Miss(limit, value, bound, (value - bound) / scale))
    return found


# Each objective: the figure it ranks by (lower is better), and its words: the best one, and "better" by it.
OBJECTIVES = {"latency": ("batch1_ms_median", "fastest", "faster"),
              "size": ("size_mb", "smallest", "smaller"),
              "balanced": ("fraction_of_teacher", "most compressed", "more compressed")}


def fraction_of_teacher(row: dict, teacher: dict) -> float:
    """Objective balanced's figure: the larger of the row's batch-1 time and its size as fractions of the PyTorch
    teacher's. Its inverse is the lesser of its speed-up and its size ratio, what "N x faster and N x smaller" reads:
    a 1.8x smaller fp32 graph that is 6x faster ranks below a 9x smaller INT8 one that is 5.5x faster."""
    return round(max(row["batch1_ms_median"] / teacher["batch1_ms_median"], row["size_mb"] / teacher["size_mb"]), 6)


def select(rows: list[dict], budget: SelectParams) -> Selection:
    """The fastest (objective latency), smallest (size) or most compressed on both axes (balanced) deployable variant
    meeting every limit; ties (equal sizes; for latency and balanced, figures within `tie_within` of the best one's,
    since both hold a measured time) go to the higher validation accuracy. When none meets them: the one missing the
    fewest limits, by the least."""
    by_name = {row["name"]: row for row in rows}
    teacher = by_name.get(TEACHER)
    if teacher is None or "validation_accuracy" not in teacher:
        raise TextslimError("summary: no validation accuracy for the teacher; re-run the evaluate stages (dvc repro)")
    candidates = [row for row in rows if row.get("form") in DEPLOYABLE_FORMS]
    lacking = [row["name"] for row in candidates if "validation_accuracy" not in row]
    if not candidates or lacking:
        raise TextslimError(f"summary: no deployable variant with a validation accuracy ({', '.join(lacking)} "
                            "lack one); re-run the evaluate stages (dvc repro)" if lacking else
                            "summary: no ONNX variant to deploy")
    key = OBJECTIVES[budget.objective][0]
    if key == "fraction_of_teacher":
        candidates = [dict(row, fraction_of_teacher=fraction_of_teacher(row, teacher)) for row in candidates]
    ranked = sorted(candidates, key=lambda row: (row[key], -row["validation_accuracy"]))
    failed = {row["name"]: misses(row, teacher, budget) for row in ranked}
    listed = [{"name": row["name"], key: row[key], "meets": not failed[row["name"]],
               "misses": [m.describe() for m in failed[row["name"]]]} for row in ranked]
    meeting = [row for row in ranked if not failed[row["name"]]]
    if meeting:
        best = meeting[0]
        # not for size: a file's size does not vary run to run; rounded, so a form exactly at the limit is tied
        within = 0.0 if budget.objective == "size" else budget.tie_within
        tied = [row for row in meeting if round(row[key] / best[key] - 1, 6) <= within]
        pick = max(tied, key=lambda row: (row["validation_accuracy"], -row[key]))
        tie = None if pick[key] == best[key] else {"variant": best["name"], key: best[key],
                                                   "within": budget.tie_within}
        # what binds: the nearest variant strictly better by the objective than the best within the budget (one tied
        # with it is not better); every such variant misses a limit
        better = next((row for row in reversed(ranked) if row[key] < best[key]), None)
        binding = None if better is None else {
            "limit": failed[better["name"]][0].limit, "next_better": better["name"],
            "misses": [m.describe() for m in failed[better["name"]]]}
        return Selection(pick, True, (), binding, listed, "drift_accuracy" in teacher, tie)
    pick = min(ranked, key=lambda row: (len(failed[row["name"]]), sum(m.relative for m in failed[row["name"]])))
    return Selection(pick, False, tuple(failed[pick["name"]]), None, listed, "drift_accuracy" in teacher)


def budget_text(budget: SelectParams) -> str:
    """The budget in words, for the report: 'at most 1 point below the teacher on validation, ...'."""
    parts = [f"at most {budget.max_drop_points:g} points below the teacher on validation"
             if budget.max_drop_points is not None else None,
             f"at most {budget.max_drift_drop_points:g} points below it off the domain"
             if budget.max_drift_drop_points is not None else None,
             f"at most {budget.max_batch1_ms:g} ms at batch 1" if budget.max_batch1_ms is not None else None,
             f"at least {budget.min_speedup:g}x the teacher's batch-1 speed" if budget.min_speedup is not None
             else None,
             f"at most {budget.max_size_mb:g} MB" if budget.max_size_mb is not None else None]
    return ", ".join(p for p in parts if p) or "no limits"


def deploy_record(selection: Selection, budget: SelectParams, rows: list[dict]) -> dict:
    """metrics/deploy.json: the pick, what binds or what it misses, its figures and its paired test intervals."""
    pick = selection.pick
    teacher_int8 = next((row for row in rows if row["name"] == "teacher-int8"), None)

    def interval(low: str, high: str) -> list[float] | None:
        return [pick[low], pick[high]] if low in pick and high in pick else None

    return {
        "variant": pick["name"], "student": pick["student"], "form": pick["form"],
        "objective": budget.objective, "budget": budget_text(budget), "met": selection.met,
        "misses": [m.describe() for m in selection.misses],
        "binding": selection.binding, "tie": selection.tie,
        "drift_limit": ("not set" if budget.max_drift_drop_points is None else "applied" if selection.drift_applied
                        else "not applied: no drift check for this data"),
        "validation_accuracy": pick["validation_accuracy"],
        "batch1_ms": pick["batch1_ms_median"], "speedup_vs_teacher": pick["speedup_vs_teacher"],
        "size_mb": pick["size_mb"],
        **({"drift_accuracy": pick["drift_accuracy"]} if "drift_accuracy" in pick else {}),
        "test": {"accuracy": pick["accuracy"], "macro_f1": pick["macro_f1"],
                 "delta_vs_teacher_ci95": interval("delta_accuracy_ci95_low", "delta_accuracy_ci95_high"),
                 "delta_vs_teacher_int8_ci95": interval("delta_accuracy_vs_teacher_int8_ci95_low",
                                                        "delta_accuracy_vs_teacher_int8_ci95_high"),
                 **({"teacher_int8_accuracy": teacher_int8["accuracy"]} if teacher_int8 else {})},
        "candidates": selection.candidates,
    }


def _points(interval: list[float] | None) -> str:
    return f"{100 * interval[0]:+.2f} to {100 * interval[1]:+.2f}" if interval else "n/a"


def deploy_lines(record: dict, folder: str = "models/deploy") -> list[str]:
    """The report's first lines: what the select stage deployed and why, or that nothing met the budget."""
    test = record["test"]
    figures = (f"{record['batch1_ms']:.2f} ms at batch 1 ({record['speedup_vs_teacher']:.1f}× the teacher), "
               f"{record['size_mb']:.1f} MB, validation accuracy {100 * record['validation_accuracy']:.2f}%; test "
               f"accuracy {100 * test['accuracy']:.2f}% (Δ 95% interval against the teacher "
               f"{_points(test['delta_vs_teacher_ci95'])} points, against teacher-int8 "
               f"{_points(test['delta_vs_teacher_int8_ci95'])})")
    _, goal, better = OBJECTIVES[record["objective"]]
    if not record["met"]:
        return [f"⚠ **Nothing met the budget** ({record['budget']}): `{folder}/` holds the closest, "
                f"**`{record['variant']}`**, which misses: {'; '.join(record['misses'])}. {figures}.", ""]
    binding, tie = record["binding"], record.get("tie")  # no tie in a record written before select.tie_within
    than = f" than `{tie['variant']}`" if tie else ""
    why = (f" What binds: `{binding['next_better']}`, the next {better}{than}, misses {'; '.join(binding['misses'])}."
           if binding else f" Nothing deployable is {better}{than}.")
    drift = "" if record["drift_limit"] in ("applied", "not set") else f" (drift limit {record['drift_limit']})"
    within = f"within the budget ({record['budget']}{drift})"
    how = (" on both axes (the larger of its batch-1 time and its size, as fractions of the PyTorch teacher's, is "
           "the least)" if record["objective"] == "balanced" else "")
    what = f"the {goal} ONNX form{how} {within}"
    if tie:
        best = (f"batch-1 latency (`{tie['variant']}`, {tie['batch1_ms_median']:.2f} ms)" if "batch1_ms_median" in tie
                else f"fraction of the teacher's time and size (`{tie['variant']}`, {tie['fraction_of_teacher']:.3f})")
        what = (f"the most accurate on validation of the ONNX forms {within} and within {tie['within']:.0%} of the "
                f"{goal} one's {best}")
    return [f"**Deployed: `{record['variant']}`** in `{folder}/`, {what}: {figures}.{why}", ""]
