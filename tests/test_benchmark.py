"""scripts/benchmark.py: mean ± sd over seeds from each run's summary.json, the split's class counts, and the first
seed's summary kept in full under its own heading."""

import pytest

from tests.scripts import load_script
from textslim.measure.seeds import aggregate, runs_from_summaries


def _summary(a: float, b: float) -> dict:
    return {"by_variant": {"a-int8": {"accuracy": a, "macro_f1": a - 0.01, "speedup_vs_teacher": 5.0, "size_mb": 9.0},
                           "b-int8": {"accuracy": b, "macro_f1": b - 0.01, "speedup_vs_teacher": 6.0}}}


SUMMARIES = {42: _summary(0.79, 0.81), 1: _summary(0.82, 0.79), 2: _summary(0.85, 0.80)}
DATA = {"source": "builtin:trec-50", "rows_read": 15452, "rows_kept": 5300, "left_out_by_train_limit": 0,
        "dropped": {"empty_text": 0, "missing_label": 0, "duplicate_text": 10071},
        "too_small_classes": {"ABBR:abb": 2}, "labels": ["DESC:def", "HUM:ind"],
        "split_sizes": {"train": 3710, "validation": 530, "test": 1060},
        "class_counts": {"train": {"DESC:def": 1000, "HUM:ind": 2710}, "validation": {"DESC:def": 130, "HUM:ind": 400},
                         "test": {"DESC:def": 260, "HUM:ind": 800}}}
FIRST = "# textslim summary\n\nCPU: x\n\n## Decisions\n\nspread-int8: within 1 point: yes\n"


def test_each_seeds_figures_are_read_from_its_summary():
    stats = aggregate(runs_from_summaries(SUMMARIES)).set_index("variant")
    assert stats.at["a-int8", "n"] == 3
    assert stats.at["a-int8", "accuracy_mean"] == pytest.approx(0.82)
    assert stats.at["a-int8", "accuracy_std"] == pytest.approx(0.03)
    assert stats.at["b-int8", "speedup_vs_teacher_mean"] == pytest.approx(6.0)


def test_the_report_shows_the_split_the_spread_and_the_first_run():
    benchmark = load_script("benchmark")
    report = benchmark.benchmark_markdown("trec", ["-S", "data.source=builtin:trec-50"], {42: 30.0, 1: 10.5, 2: 11.0},
                                          DATA, SUMMARIES, FIRST, "AMD EPYC")
    assert report.startswith("# Benchmark: trec\n")
    assert "Wall time: **51.5 min** (seed 42: 30.0 min; seed 1: 10.5 min; seed 2: 11.0 min" in report
    assert "| HUM:ind | 2,710 | 400 | 800 |" in report
    assert "| **total** | **3,710** | **530** | **1,060** |" in report
    assert "dropped (texts): ABBR:abb (2)." in report
    a_row = next(line for line in report.splitlines() if line.startswith("| a-int8"))
    assert "82.00 ± 3.00" in a_row and "81.00 ± 3.00" in a_row
    # the first run's summary, demoted one level under a heading that names its seed
    assert "## The first seed's run in full (distill.seed=42)" in report
    assert "### Decisions" in report and "spread-int8: within 1 point: yes" in report
    assert report.count("\n# ") == 0


def test_the_seed_comes_from_seeds_not_the_overrides(monkeypatch):
    benchmark = load_script("benchmark")
    monkeypatch.setattr("sys.argv", ["benchmark.py", "--name", "x", "--seeds", "1", "--report", "r.md",
                                     "--metrics", "m.json", "--", "-S", "distill.seed=3"])
    with pytest.raises(SystemExit, match="--seeds sets distill.seed"):
        benchmark.main()


def test_a_stopped_run_is_collected_from_its_clones_finished_experiments(tmp_path, monkeypatch):
    import json
    import subprocess

    clone = tmp_path / "clone"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(clone)], check=True)
    (clone / "metrics").mkdir()
    (clone / "reports").mkdir()
    (clone / "metrics" / "students").mkdir()
    rows = [{"name": "teacher", "student": None, "form": "pytorch-fp32"},
            {"name": "teacher-int8", "student": None, "form": "onnx-int8"},
            {"name": "a-int8", "student": "a", "form": "onnx-int8"},
            {"name": "tfidf-logreg", "student": None, "form": "sklearn"}]

    def per_class(f1: float) -> dict:
        return {"HUM:ind": {"precision": f1, "recall": f1, "f1": f1, "support": 800}}

    for path, figures in (("teacher.json", {"test": {"per_class": per_class(0.9)}}),
                          ("baseline.json", {"test": {"per_class": per_class(0.7)}}),
                          ("teacher-deployed.json", {"forms": {"onnx-int8": {"per_class": per_class(0.89)}}}),
                          ("students/a.json", {"forms": {"onnx-int8": {"per_class": per_class(0.8)}}})):
        (clone / "metrics" / path).write_text(json.dumps(figures))
    for seed in (42, 1):  # each seed's run committed under its experiment's ref, as `dvc exp run -n` leaves it
        (clone / "metrics" / "summary.json").write_text(json.dumps({**SUMMARIES[seed], "variants": rows}))
        (clone / "metrics" / "data.json").write_text(json.dumps(DATA))
        (clone / "reports" / "summary.md").write_text(FIRST.replace("CPU: x", f"CPU: seed {seed}"))
        subprocess.run(["git", "add", "-A"], cwd=clone, check=True)
        subprocess.run([*git, "commit", "-qm", f"seed {seed}"], cwd=clone, check=True)
        subprocess.run(["git", "update-ref", f"refs/exps/ab/cd/trec-seed-{seed}", "HEAD"], cwd=clone, check=True)
    benchmark = load_script("benchmark")
    out = tmp_path / "out"
    monkeypatch.setattr("sys.argv", ["benchmark.py", "--name", "trec", "--seeds", "42", "1", "--report",
                                     str(out / "r.md"), "--metrics", str(out / "m.json"), "--collect", str(clone),
                                     "--minutes", "30", "12.5", "--", "-S", "data.source=builtin:trec-50"])
    benchmark.main()
    report = (out / "r.md").read_text()
    assert "Wall time: **42.5 min** (seed 42: 30.0 min; seed 1: 12.5 min" in report
    assert "CPU: seed 42" in report and "CPU: seed 1" not in report  # the first seed's summary in full
    metrics = json.loads((out / "m.json").read_text())
    assert metrics["by_seed"]["1"] == SUMMARIES[1]["by_variant"] and metrics["minutes"] == {"42": 30.0, "1": 12.5}
    # every variant's per-class scores, each read from the file its evaluate stage wrote
    assert {name: scores["HUM:ind"]["f1"] for name, scores in metrics["first_seed_per_class"].items()} == {
        "teacher": 0.9, "tfidf-logreg": 0.7, "teacher-int8": 0.89, "a-int8": 0.8}
    monkeypatch.setattr("sys.argv", ["benchmark.py", "--name", "trec", "--seeds", "42", "2", "--report", "r.md",
                                     "--metrics", "m.json", "--collect", str(clone), "--minutes", "1", "2"])
    with pytest.raises(SystemExit, match="no finished experiment trec-seed-2"):
        benchmark.main()
