"""Assemble the comparison: one row per model variant, ratios against the teacher, a markdown table."""

from pathlib import Path

import pandas as pd

from textslim.atomic import read_json
from textslim.compress.embedding_bits import embeddings_label
from textslim.forms import ONNX_INT8, SKLEARN, TEACHER, Form, form_named
from textslim.measure.bench import Timing
from textslim.params import CompareParams, Params
from textslim.students.registry import get_recipe, recipe_section

BATCH1_FIGURES = ("accuracy_batch1", "macro_f1_batch1", "flips_vs_batched")  # INT8 forms, from the evaluate stage


def _row(name: str, student: str | None, form: Form, params, size_bytes, test, max_length) -> dict:
    return {"name": name, "student": student, "form": form.name, "runtime": form.runtime,
            "max_length": max_length, "params": int(params),
            "size_mb": round(size_bytes / 1e6, 3),
            "accuracy": test["accuracy"], "macro_f1": test["macro_f1"],
            **{key: test[key] for key in BATCH1_FIGURES if key in test},
            **({"drift_accuracy": test["drift"]["accuracy"]} if "drift" in test else {}),
            **({"validation_accuracy": test["validation"]["accuracy"]} if "validation" in test else {})}


def variant_rows(teacher: dict, baseline: dict, students: dict[str, dict], teacher_max_length: int,
                 teacher_deployed: dict | None = None) -> list[dict]:
    """Every variant with its accuracy, size and parameters: the teacher's forms first, the baseline last."""
    # The PyTorch teacher's off-domain score comes from the evaluate_teacher stage (finetune_teacher has no drift set).
    deployed = teacher_deployed or {}
    teacher_test = {**teacher["test"], **({"drift": deployed["source_drift"]} if "source_drift" in deployed else {}),
                    **({"validation": deployed["source_validation"]} if "source_validation" in deployed else {})}
    rows = [_row("teacher", None, TEACHER, teacher["params"], teacher["size_bytes"], teacher_test,
                 teacher_max_length)]
    for name, figures in deployed.get("forms", {}).items():
        form = form_named(name)
        rows.append(_row(f"teacher-{form.short}", None, form, figures["params"], figures["size_bytes"], figures,
                         teacher_max_length))
    for student, metrics in students.items():
        for name, figures in metrics["forms"].items():
            form = form_named(name)
            rows.append(_row(f"{student}-{form.short}", student, form, figures["params"], figures["size_bytes"],
                             figures, metrics["recipe"]["max_length"]))
    baseline_figures = {**baseline["test"],
                        **({"validation": baseline["validation"]} if "validation" in baseline else {})}
    rows.append(_row("tfidf-logreg", None, SKLEARN, baseline["params"], baseline["size_bytes"], baseline_figures,
                     None))
    return rows


def evaluated_models(params: Params) -> list[str]:
    """Every model an evaluate stage scored, in the table's order: each student distilled (S, evaluate_distilled@S),
    then each of its compression chains (S.V, evaluate@S-V)."""
    return [name for student in params.distill.students
            for name in (student, *params.compress.chains((student,)))]


def read_evaluated(params: Params, metrics_dir: str | Path) -> dict[str, dict]:
    """metrics/students/<name>.json of every evaluated model, in evaluated_models' order."""
    return {name: read_json(Path(metrics_dir) / "students" / f"{name}.json") for name in evaluated_models(params)}


def with_timings(rows: list[dict], timings: dict[str, Timing]) -> list[dict]:
    """Add the measured timings and the ratios against the teacher in PyTorch fp32 and, if present, teacher-int8."""
    by_name = {r["name"]: r for r in rows}
    out = []
    for row in rows:
        timing = timings[row["name"]]
        figures = {**row, "batch1_ms_median": round(timing.batch1_ms_median, 3),
                   "batch1_ms_p95": round(timing.batch1_ms_p95, 3), "texts_per_s": round(timing.texts_per_s, 3),
                   **{f"batch1_ms_threads{n}": round(ms, 3) for n, ms in timing.batch1_ms_by_threads.items()},
                   **{f"texts_per_s_batch{b}": round(rate, 3) for b, rate in timing.texts_per_s_by_batch.items()},
                   "delta_accuracy_vs_teacher": round(row["accuracy"] - by_name["teacher"]["accuracy"], 6)}
        for reference, suffix in (("teacher", ""), ("teacher-int8", "_int8")):
            if reference in by_name:
                figures[f"speedup_vs_teacher{suffix}"] = round(
                    timings[reference].batch1_ms_median / timing.batch1_ms_median, 2)
                figures[f"size_ratio_vs_teacher{suffix}"] = round(by_name[reference]["size_mb"] / row["size_mb"], 2)
        out.append(figures)
    return out


def best_student(rows: list[dict]) -> dict | None:
    """The INT8 student with the highest test accuracy (faster wins a tie); teacher-int8 is not a student."""
    int8 = [r for r in rows if r["form"] == ONNX_INT8.name and r["student"]]
    return max(int8, key=lambda r: (r["accuracy"], -r["batch1_ms_median"])) if int8 else None


def _interval(row: dict) -> str:
    """The paired bootstrap interval of the accuracy difference to the teacher, in points ('—' without one)."""
    if "delta_accuracy_ci95_low" not in row:
        return "—"
    return f"{100 * row['delta_accuracy_ci95_low']:+.2f} to {100 * row['delta_accuracy_ci95_high']:+.2f}"


def within_points(row: dict, points: float) -> str:
    """Whether a variant is at most `points` below the teacher, read against its interval: yes when the whole
    interval is above -points, no when it is all below, and undecided when the test split cannot tell."""
    low, high = 100 * row["delta_accuracy_ci95_low"], 100 * row["delta_accuracy_ci95_high"]
    return "yes" if low >= -points else "no" if high < -points else "undecided by the test split"


def _interval_clause(row: dict) -> str:
    if "delta_accuracy_ci95_low" not in row:
        return ""
    return f", 95% interval {_interval(row)}; within 1 point of it: {within_points(row, 1.0)}"


def markdown_table(rows: list[dict], baseline_accuracy: float) -> str:
    """The summary table; a variant that does not beat the TF-IDF baseline is marked."""
    frame = pd.DataFrame([{
        "model": r["name"] + (" ⚠ below TF-IDF" if r["student"] and r["accuracy"] <= baseline_accuracy else ""),
        "params (M)": f"{r['params'] / 1e6:.2f}",
        "MB on disk": f"{r['size_mb']:.1f}",
        "batch-1 ms (p50 / p95)": f"{r['batch1_ms_median']:.2f} / {r['batch1_ms_p95']:.2f}",
        "texts/s": f"{r['texts_per_s']:.0f}",
        "accuracy": f"{100 * r['accuracy']:.2f}",
        "macro-F1": f"{100 * r['macro_f1']:.2f}",
        "Δ acc vs teacher (pts)": f"{100 * r['delta_accuracy_vs_teacher']:+.2f}",
        "Δ 95% interval (pts)": _interval(r),
        "speed-up vs teacher": f"{r['speedup_vs_teacher']:.1f}×",
        "size ratio vs teacher": f"{r['size_ratio_vs_teacher']:.1f}×",
    } for r in rows])
    return frame.to_markdown(index=False, disable_numparse=True)


def recipe_notes(students: dict[str, dict], teacher_accuracy: float) -> list[str]:
    """What a recipe's own figures say (SetFit's few-shot starting point, LoRA's trainable share), one line each."""
    notes = []
    for name, metrics in students.items():
        recipe = get_recipe(name)
        if recipe.note is not None:
            notes.append(recipe.note(name, metrics, teacher_accuracy))
    return [note for note in notes if note]


def describe_prune(cfg) -> str:
    """The prune stage's settings in a few words, for the report's header."""
    extra = " and " + ", ".join(f"`{source}`" for source in cfg.extra_vocabularies) if cfg.extra_vocabularies else ""
    vocabulary = f", vocabulary trimmed to what the transfer texts{extra} use" if cfg.vocabulary == "training" else ""
    if cfg.method == "structured":
        steps, each = (f"in {cfg.steps} steps, ", " after each") if cfg.steps > 1 else ("", "")
        return (f"structured (heads −{cfg.head_fraction:.0%}, FFN −{cfg.ffn_fraction:.0%}{vocabulary}, "
                f"{steps}{cfg.recovery_epochs} recovery epoch(s){each}; unstructured {cfg.amount:g} where it does not "
                "apply)")
    if cfg.method == "unstructured":
        return f"unstructured (amount {cfg.amount:g}{vocabulary})"
    return vocabulary.removeprefix(", ") or "nothing removed"


def describe_variants(params: Params) -> str:
    """Each compression variant's prune settings in a few words."""
    return "; ".join(f"`{variant}` {describe_prune(params.compress.prune_settings(params.prune, variant))}"
                     for variant in params.compress.variants)


def describe_students(params: Params) -> str:
    """Each student with what it is, for the report's header (its recipe says: only layer subsets are "k-layer")."""
    return ", ".join(get_recipe(name).describe(recipe_section(params, name)) for name in params.distill.students)


def compression_lines(students: dict[str, dict]) -> list[str]:
    """What the prune stage did to each student: vocabulary, heads, FFN, parameters, and what recovery reached."""
    lines = ["Prune stage, per student and compression variant:", ""]
    for name, metrics in students.items():
        report = metrics["sparsity"]
        parts = [report["method"]]
        if "vocabulary" in report:
            vocab = report["vocabulary"]
            validation = vocab.get("validation_texts_with_dropped_tokens")  # absent from runs before it was measured
            shares = (f"{100 * validation:.1f}% of validation and " if validation is not None else "") + \
                f"{100 * vocab['test_texts_with_dropped_tokens']:.1f}% of test texts use a dropped one"
            trimmed_to = (f", kept for the {vocab['trimmed_to_texts']:,} transfer texts" if "trimmed_to_texts" in vocab
                          else "")
            parts.append(f"vocabulary {vocab['vocab_before']:,} → {vocab['vocab_after']:,} entries{trimmed_to} "
                         f"({shares})")
        if "structured" in report:
            done = report["structured"]
            parts.append(f"heads {sum(done['heads_before'])} → {sum(done['heads_after'])} "
                         f"(per layer {done['heads_after']}), FFN {done['intermediate_size_before']} → "
                         f"{done['intermediate_size_after']}")
        if report["method"] == "unstructured":
            parts.append(f"encoder Linear sparsity {report['linear_sparsity']:.2f} (zeros stored densely: no smaller, "
                         "no faster)")
        if "note" in report:
            parts.append(report["note"])
        lines.append(f"- `{name}`: {'; '.join(parts)}; parameters {report['params_before'] / 1e6:.2f}M → "
                     f"{report['params'] / 1e6:.2f}M.")
    return [*lines, ""]


def baseline_line(baseline: dict) -> str:
    """How the TF-IDF baseline was chosen: the grid, the winner, and on which split."""
    chosen = ", ".join(f"{key} {value}" for key, value in baseline["chosen"].items())
    return (f"TF-IDF + logistic regression: {chosen}, the best of {len(baseline['grid'])} settings by "
            f"{baseline['selected_by']}: {100 * baseline['test']['accuracy']:.2f}% on test.")


QUANTIZE_MODES = {"dynamic": "dynamic (activation scales per call)",
                  "static": "static (activation ranges calibrated on training texts)",
                  "auto": "dynamic or static per model (`quantize.mode: auto`, see INT8 scales below)"}


def render_report(rows: list[dict], best: dict | None, baseline_accuracy: float, threads: int, cfg: CompareParams,
                  params: Params, notes: list[str] = (), extra: list[str] = (), lead: list[str] = (),
                  headline: list[str] = ()) -> str:
    """reports/summary.md: what was deployed (headline), how it was measured, what leads (the frontier), the table,
    and what it says."""
    lines = [
        "# textslim summary", "", *headline,
        f"Teacher `{params.teacher.model}` on `{params.data.source}`; students {describe_students(params)}; "
        f"compression variants (each student through each): {describe_variants(params)}; "
        f"INT8 {'per-channel' if params.quantize.per_channel else 'per-tensor'} quantization, "
        f"{QUANTIZE_MODES[params.quantize.mode]}, embedding tables {embeddings_label(params.quantize)}; test split.",
        f"Latency: batch 1 over {cfg.latency_texts} real test texts after {cfg.warmup} warm-up calls, the variants "
        f"taking turns in blocks in one process, {threads} threads; median and p95. Throughput: batches of "
        f"{max(cfg.throughput_batch_sizes)} over up to 512 test texts, median of {cfg.throughput_rounds} rounds. "
        "Size: model file + tokenizer + config on disk. Ratios are against the teacher (PyTorch fp32). Δ 95% "
        "interval: the accuracy difference to the teacher, paired bootstrap over the test texts (both models "
        "scored on the same resampled texts).", "",
        *lead, *(["## Every variant", ""] if lead else []),
        markdown_table(rows, baseline_accuracy), "",
    ]
    if best:
        teacher = rows[0]
        beats = "beats" if best["accuracy"] > baseline_accuracy else "does NOT beat"
        lines += [f"Best INT8 student: **{best['name']}**: {100 * best['accuracy']:.2f}% accuracy "
                  f"({100 * best['delta_accuracy_vs_teacher']:+.2f} points vs the teacher's "
                  f"{100 * teacher['accuracy']:.2f}%{_interval_clause(best)}), "
                  f"{best['speedup_vs_teacher']:.1f}× faster at batch 1, "
                  f"{best['size_ratio_vs_teacher']:.1f}× smaller; it {beats} the TF-IDF baseline "
                  f"({100 * baseline_accuracy:.2f}%)."]
        if "speedup_vs_teacher_int8" in best:
            lines[-1] += (f" Against the teacher exported and quantized the same way (teacher-int8): "
                          f"{best['speedup_vs_teacher_int8']:.1f}× faster, {best['size_ratio_vs_teacher_int8']:.1f}× "
                          "smaller.")
        lines += [""]
    if notes:
        lines += ["Recipes:", "", *notes, ""]
    lines += [*extra, ""]
    return "\n".join(lines)


def _table(records: list[dict]) -> str:
    return pd.DataFrame(records).to_markdown(index=False, disable_numparse=True)


def hardware_lines(summary: dict) -> list[str]:
    """The roofline, threads and batch, INT8 at batch 1, and where the best student's batch-1 time goes."""
    rows, peaks = summary["variants"], summary["peaks"]
    batch = max(summary["throughput_batch_sizes"])
    threads = summary["threads"]
    cpu = summary["cpu"]
    lines = ["## Against the hardware's floor", "",
             f"CPU: {cpu['model']}; int8 path `{cpu['int8_path']}` ({cpu['int8_path_means']}). INT8 models quantized "
             f"with the `{cpu['int8_preset']}` preset on {cpu['quantized_on']['model']} (int8 path "
             f"`{cpu['quantized_on']['int8_path']}`).", "",
             f"GEMM peaks measured by the compare stage with {threads} threads (square {1024}×{1024} matmuls): fp32 "
             f"{peaks['fp32']:.0f} GFLOP/s (PyTorch {peaks['torch_fp32']:.0f}, ONNX Runtime {peaks['ort_fp32']:.0f}), "
             f"int8 {peaks['ort_int8']:.0f} GOP/s (ONNX Runtime MatMulInteger, "
             f"{peaks['int8_operands']}, the INT8 models' operand types). FLOPs per text at the "
             "test split's "
             "median token count with each model's own tokenizer (torch's FLOP counter). Floor: weight GEMMs at the "
             "int8 peak for INT8 forms (fp32 otherwise), attention matmuls at the fp32 peak. ×floor: measured time "
             f"over the floor (batch 1: the median call, tokenizer included; batch {batch}: one batch at the measured "
             "texts/s).", ""]
    lines.append(_table([{
        "model": r["name"], "tokens": r["tokens"], "GFLOP/text": f"{r['gflops_per_text']:.3f}",
        "tokenizer ms": f"{r['tokenizer_ms']:.3f}",
        "batch-1 floor / measured ms": f"{r['floor_ms_batch1']:.3g} / {r['batch1_ms_median']:.2f}",
        "batch-1 ×floor": f"{r['vs_floor_batch1']:.0f}×",
        f"batch-{batch} floor / measured ms": f"{r[f'floor_ms_batch{batch}']:.3g} / "
                                             f"{1e3 * batch / r[f'texts_per_s_batch{batch}']:.2f}",
        f"batch-{batch} ×floor": f"{r[f'vs_floor_batch{batch}']:.1f}×",
    } for r in rows if "tokens" in r]))
    lines += ["", "TF-IDF + logistic regression has no row: its arithmetic is sparse, no GEMM floor applies.", "",
              "## Threads and batch size", "",
              "Batch-1 latency (median ms) at each thread count, and texts/s at each batch size with "
              f"{threads} threads, all in the same interleaved run (texts/s at batch 1: 1000 / the mean batch-1 "
              "time).", ""]
    thread_counts, batch_sizes = summary["latency_threads"], summary["throughput_batch_sizes"]
    lines.append(_table([{
        "model": r["name"], **{f"batch-1 ms, {n} thread{'s' if n > 1 else ''}": f"{r[f'batch1_ms_threads{n}']:.2f}"
                               for n in thread_counts},
        **{f"texts/s, batch {b}": f"{r[f'texts_per_s_batch{b}']:.0f}" for b in batch_sizes},
    } for r in rows]))
    int8 = [r for r in rows if "flips_vs_batched" in r]
    if int8:
        lines += ["", "## INT8 accuracy at the batch size it is served at", "",
                  "Dynamic INT8 computes activation scales per call, so a prediction can depend on the texts batched "
                  "with it; static INT8 (the INT8 scales section says which models have it) cannot, so its flips are "
                  "0. The evaluate stage scores every INT8 form at batch 64 (the table above) and one text per call "
                  "(the condition its latency is quoted at); flips: test texts predicted differently.", ""]
        lines.append(_table([{
            "model": r["name"], "accuracy, batch 64": f"{100 * r['accuracy']:.2f}",
            "accuracy, batch 1": f"{100 * r['accuracy_batch1']:.2f}",
            "macro-F1, batch 1": f"{100 * r['macro_f1_batch1']:.2f}", "flipped predictions": r["flips_vs_batched"],
        } for r in int8]))
    breakdowns = summary.get("where_the_time_goes") or []
    if breakdowns:
        best = next(r for r in rows if r["name"] == summary["best_student"])
        lines += ["", f"## Where the time goes: {best['name']}", "",
                  "ms per call, texts grouped by length as in the throughput run; tokenizer and session call timed "
                  "as they run. The session call splits into ONNX Runtime's per-call overhead (an empty graph's call, "
                  "measured) and kernels; the kernels split into GEMMs (what the floor counts) and other ops (layer "
                  "norm, GELU, softmax, quantize/dequantize, reshapes: memory-bound work the floor leaves out) in the "
                  "proportions ONNX Runtime's profiler measured.", ""]
        lines.append(_table([{
            "batch": b["batch"], "tokenizer": f"{b['tokenizer_ms']:.3f}", "session call": f"{b['session_run_ms']:.3f}",
            "call overhead": f"{b['call_overhead_ms']:.3f}", "GEMM kernels": f"{b['gemm_kernels_ms']:.3f}",
            "other kernels": f"{b['other_kernels_ms']:.3f}", "floor (GEMMs at peak)": f"{b['floor_ms']:.3g}",
            "GEMM kernels ×floor": f"{b['gemm_kernels_ms'] / b['floor_ms']:.1f}×",
            "largest shares of kernel time": ", ".join(f"{op} {100 * share:.0f}%"
                                                       for op, share in b["top_ops_share"].items()),
        } for b in breakdowns]))
    return [*lines, ""]
