"""Assemble the comparison: one row per model variant, ratios against the teacher, a markdown table."""

from dataclasses import asdict

import pandas as pd

from textslim.bench import Timing
from textslim.params import LAYER_STRATEGIES, CompareParams, Params

# form -> (short name used in variant names, runtime); where each form lives comes from the evaluate stage
STUDENT_FORMS = {
    "distilled-fp32": ("distilled", "pytorch"),
    "pruned-fp32": ("pruned", "pytorch"),
    "onnx-fp32": ("fp32", "onnxruntime"),
    "onnx-int8": ("int8", "onnxruntime"),
}


def _row(name, student, form, runtime, path, model_file, params, size_bytes, test, max_length) -> dict:
    return {"name": name, "student": student, "form": form, "runtime": runtime, "path": path,
            "model_file": model_file, "max_length": max_length, "params": int(params),
            "size_mb": round(size_bytes / 1e6, 3),
            "accuracy": test["accuracy"], "macro_f1": test["macro_f1"]}


def variant_rows(teacher: dict, baseline: dict, students: dict[str, dict], teacher_dir: str, baseline_dir: str,
                 teacher_max_length: int) -> list[dict]:
    """Every variant with its accuracy, size and parameters, teacher first and baseline last."""
    rows = [_row("teacher", None, "pytorch-fp32", "pytorch", teacher_dir, "model.safetensors",
                 teacher["params"], teacher["size_bytes"], teacher["test"], teacher_max_length)]
    for student, metrics in students.items():
        for form, figures in metrics["forms"].items():
            short, runtime = STUDENT_FORMS[form]
            rows.append(_row(f"{student}-{short}", student, form, runtime, figures["path"], figures["model_file"],
                             figures["params"], figures["size_bytes"], figures, metrics["recipe"]["max_length"]))
    rows.append(_row("tfidf-logreg", None, "sklearn", "sklearn", baseline_dir, "model.joblib",
                     baseline["params"], baseline["size_bytes"], baseline["test"], None))
    return rows


def with_timings(rows: list[dict], timings: dict[str, Timing]) -> list[dict]:
    """Add the measured timings and every ratio against the teacher's PyTorch fp32 row."""
    teacher = next(r for r in rows if r["name"] == "teacher")
    t_time = timings["teacher"]
    out = []
    for row in rows:
        timing = timings[row["name"]]
        out.append({**row, **{k: round(v, 3) for k, v in asdict(timing).items()},
                    "delta_accuracy_vs_teacher": round(row["accuracy"] - teacher["accuracy"], 6),
                    "speedup_vs_teacher": round(t_time.batch1_ms_median / timing.batch1_ms_median, 2),
                    "size_ratio_vs_teacher": round(teacher["size_mb"] / row["size_mb"], 2)})
    return out


def best_student(rows: list[dict]) -> dict | None:
    """The INT8 student with the highest test accuracy (faster wins a tie)."""
    int8 = [r for r in rows if r["form"] == "onnx-int8"]
    return max(int8, key=lambda r: (r["accuracy"], -r["batch1_ms_median"])) if int8 else None


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
        "speed-up vs teacher": f"{r['speedup_vs_teacher']:.1f}×",
        "size ratio vs teacher": f"{r['size_ratio_vs_teacher']:.1f}×",
    } for r in rows])
    return frame.to_markdown(index=False, disable_numparse=True)


def recipe_notes(students: dict[str, dict], teacher_accuracy: float) -> list[str]:
    """What a recipe's own figures say (SetFit's few-shot starting point, LoRA's trainable share), one line each."""
    lines = []
    for name, metrics in students.items():
        recipe, forms = metrics["recipe"], metrics["forms"]
        if recipe["recipe"] == "setfit":
            few = recipe["few_shot"]["test"]["accuracy"]
            distilled, int8 = forms["distilled-fp32"]["accuracy"], forms["onnx-int8"]["accuracy"]
            gap = teacher_accuracy - few
            closed = (f"closes {(distilled - few) / gap:.0%} of the gap" if gap > 0
                      else "starts at or above the teacher")
            lines.append(f"- `{name}`: SetFit on {recipe['labelled_texts']} labelled texts "
                         f"({recipe['shots_per_class']} per class) scores {100 * few:.2f}% before distillation; "
                         f"distilled on {recipe['unlabelled_texts']:,} unlabelled texts it scores "
                         f"{100 * distilled:.2f}% ({100 * int8:.2f}% as INT8): distillation {closed} to the teacher's "
                         f"{100 * teacher_accuracy:.2f}%.")
        elif recipe["recipe"] == "lora":
            lines.append(f"- `{name}`: LoRA rank {recipe['rank']} on `{recipe['base']}` trains "
                         f"{recipe['trainable_params']:,} of {recipe['total_params']:,} parameters; merged before "
                         "pruning, so what ships needs no peft.")
    return lines


def describe_students(params: Params) -> str:
    """Each student with what it is, for the report's header: only the layer subsets are "k-layer" students."""
    def describe(name: str) -> str:
        if name in LAYER_STRATEGIES:
            return f"{name} ({params.distill.num_layers} teacher layers)"
        if name == "pretrained":
            return f"pretrained (`{params.distill.pretrained_model}`)"
        if name == "lora":
            return f"lora (adapters on {params.lora.base})"
        if name == "setfit":
            return f"setfit (`{params.setfit.body}`, {params.setfit.shots_per_class} shots per class, then KD)"
        return f"lstm (BiLSTM on {params.lstm.embeddings})"
    return ", ".join(describe(name) for name in params.distill.students)


def render_report(rows: list[dict], best: dict | None, baseline_accuracy: float, threads: int, cfg: CompareParams,
                  params: Params, notes: list[str] = ()) -> str:
    """reports/summary.md: how it was measured, the table, and what it says."""
    lines = [
        "# textslim summary", "",
        f"Teacher `{params.teacher.model}` on `{params.data.source}`; students {describe_students(params)}; "
        f"prune amount {params.prune.amount}; "
        f"INT8 {'per-channel' if params.quantize.per_channel else 'per-tensor'} dynamic quantization; test split.",
        f"Latency: batch 1 over {cfg.latency_texts} real test texts after {cfg.warmup} warm-up calls, the variants "
        f"taking turns in blocks in one process, {threads} threads; median and p95. Throughput: batches of "
        f"{cfg.throughput_batch_size} over up to 512 test texts, median of {cfg.throughput_rounds} rounds. "
        "Size: model file + tokenizer + config on disk. Ratios are against the teacher (PyTorch fp32).", "",
        markdown_table(rows, baseline_accuracy), "",
    ]
    if best:
        teacher = rows[0]
        beats = "beats" if best["accuracy"] > baseline_accuracy else "does NOT beat"
        lines += [f"Best INT8 student: **{best['name']}**: {100 * best['accuracy']:.2f}% accuracy "
                  f"({100 * best['delta_accuracy_vs_teacher']:+.2f} points vs the teacher's "
                  f"{100 * teacher['accuracy']:.2f}%), {best['speedup_vs_teacher']:.1f}× faster at batch 1, "
                  f"{best['size_ratio_vs_teacher']:.1f}× smaller; it {beats} the TF-IDF baseline "
                  f"({100 * baseline_accuracy:.2f}%).", ""]
    if notes:
        lines += ["Recipes:", "", *notes, ""]
    lines += ["Unstructured pruning zeroes weights but stores them densely, so it changes neither the file size nor "
              "the speed of the PyTorch and ONNX forms; INT8 quantization is what shrinks and speeds them.", ""]
    return "\n".join(lines)
