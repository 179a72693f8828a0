"""scripts/transfer_curve.py on a tiny workspace laid out as `make repro` leaves it: each (row, student, seed) run is
saved as it finishes and never run twice, a row's transfer set is labelled once for every student and seed, and the
report and plot data come from every saved run."""

import json
import sys

import pandas as pd
import pytest
import yaml

from tests.scripts import load_script
from tests.stages import run_stage_script
from tests.tiny import sentences

pytestmark = pytest.mark.slow  # a tiny teacher, then two students distilled, pruned, exported and quantized

STAGES_UP_TO_THE_TEACHER = [  # dvc.yaml's commands, paths relative to the workspace
    ("prepare_data", "--out", "data/prepared", "--report-out", "metrics/data.json"),
    ("finetune_teacher", "--data", "data/prepared", "--model-out", "models/teacher", "--logits-out",
     "data/teacher_logits", "--metrics-out", "metrics/teacher.json", "--live-dir", "metrics/train/teacher"),
    ("prepare_drift", "--data", "data/prepared", "--out", "data/drift", "--report-out", "metrics/drift.json"),
    ("export_onnx", "--model", "models/teacher", "--data", "data/prepared", "--out", "models/onnx/teacher"),
    ("quantize", "--model", "models/onnx/teacher", "--data", "data/prepared", "--out", "models/quantized/teacher"),
    ("evaluate", "--student", "teacher", "--data", "data/prepared", "--source", "models/teacher", "--onnx",
     "models/onnx/teacher", "--quantized", "models/quantized/teacher", "--drift", "data/drift", "--out",
     "metrics/teacher-deployed.json", "--predictions-out", "metrics/predictions/teacher.csv"),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_teacher, tiny_csv):
    ws = tmp_path_factory.mktemp("workspace")
    params = {"data": {"source": str(tiny_csv), "validation_fraction": 0.2, "test_fraction": 0.2},
              "teacher": {"model": str(tiny_teacher), "epochs": 1, "max_length": 32, "batch_size": 16},
              "distill": {"students": ["spread"], "epochs": 1, "max_length": 32, "batch_size": 16},
              "spread": {"num_layers": 2}, "prune": {"importance_texts": 32, "recovery_epochs": 1},
              "compress": {"variants": ["heavy"], "settings": {"heavy": {}, "trim": {"method": "none"},
                                                             "full": {"method": "none", "vocabulary": "full"}}}}
    (ws / "params.yaml").write_text(yaml.safe_dump(params))
    for name, *args in STAGES_UP_TO_THE_TEACHER:
        run = run_stage_script(name, "--params", "params.yaml", *args, cwd=ws)
        assert run.returncode == 0, f"{name}: {run.stderr[-2000:]}"
    extra = ws / "extra.csv"
    sentences(40, seed=9)[["text"]].to_csv(extra, index=False)
    return ws, extra


def test_runs_are_saved_as_they_finish_and_never_run_twice(workspace, tmp_path, monkeypatch):
    ws, extra = workspace
    script = load_script("transfer_curve")
    calls = []

    def in_process(name, *args, cwd):  # as stage(), without a 7 s interpreter start per stage
        calls.append(name)
        run = run_stage_script(name, *args, cwd=cwd)
        if run.returncode != 0:
            raise script.TextslimError(f"stages/{name}.py failed: {run.stderr[-1000:]}")

    monkeypatch.setattr(script, "stage", in_process)
    monkeypatch.setattr(script, "ROWS", {"base": {}, "extra": {"data.unlabelled": [str(extra)]}})
    monkeypatch.setattr(script, "STUDENTS", {"spread": {"distill.students": ["spread"]}})
    results, report, plot = tmp_path / "curve.json", tmp_path / "curve.md", tmp_path / "curve"
    argv = ["transfer_curve.py", "--workspace", str(ws), "--work", str(tmp_path / "work"), "--results", str(results),
            "--report", str(report), "--plot", str(plot), "--students", "spread", "--chains", "heavy", "trim"]

    monkeypatch.setattr(sys, "argv", [*argv, "--rows", "base", "extra", "--seeds", "1", "2"])
    script.main()
    runs = json.loads(results.read_text())["runs"]
    assert sorted((r["row"], r["seed"]) for r in runs) == [("base", 1), ("base", 2), ("extra", 1), ("extra", 2)]
    # each row's transfer set was labelled once, then served both seeds
    assert calls.count("label_unlabelled") == 2 and calls.count("distill_student") == 4
    assert calls.count("prune") == 8  # two chains a run
    added = {r["row"]: r["added_texts"] for r in runs}
    assert added["base"] == 0 and 0 < added["extra"] <= 40  # the teacher labelled the extra texts (less duplicates)
    for run in runs:
        assert set(run["forms"]) == {"distilled", "heavy-int8", "trim-int8"}
        for scores in run["forms"].values():
            assert 0 <= scores["validation"] <= 1 and 0 <= scores["test"] <= 1 and scores["size_mb"] > 0
        assert run["seconds"]["training"] > 0 and run["seconds"]["heavy"] > 0 and run["seconds"]["trim"] > 0

    calls.clear()
    script.main()  # everything asked for is saved: nothing runs, nothing changes
    assert calls == [] and json.loads(results.read_text())["runs"] == runs

    text = report.read_text()
    train = json.loads((ws / "metrics/data.json").read_text())["split_sizes"]["train"]
    assert f"| spread | base | 2 | {train:,} |" in text
    assert f"| spread | extra | 2 | {train + added['extra']:,} |" in text
    assert "| spread | extra | heavy-int8 | 2 |" in text and "| teacher | – | PyTorch |" in text
    lines = {path.name: pd.read_csv(path) for path in plot.iterdir()}
    assert set(lines) == {"spread-distilled.csv", "spread-heavy-int8.csv", "spread-trim-int8.csv"}
    for line in lines.values():  # one point per row, the mean of its two seeds
        assert line["texts_taught"].tolist() == [train, train + added["extra"]] and (line["seeds"] == 2).all()
    chain = [100 * sum(r["forms"]["heavy-int8"]["test"] for r in runs if r["row"] == row) / 2
             for row in ("base", "extra")]
    assert lines["spread-heavy-int8.csv"]["test_accuracy"].tolist() == pytest.approx(chain, abs=0.006)

    calls.clear()  # a chain a saved run lacks: that run again, through its own chains and the new one
    monkeypatch.setattr(sys, "argv", [*argv, "--rows", "base", "--seeds", "1", "--chains", "full"])
    script.main()
    again = [r for r in json.loads(results.read_text())["runs"] if (r["row"], r["seed"]) == ("base", 1)]
    assert len(again) == 1 and set(again[0]["forms"]) == {"distilled", "full-int8", "heavy-int8", "trim-int8"}
    assert calls.count("distill_student") == 1 and calls.count("prune") == 3 and "label_unlabelled" not in calls


def test_a_failed_run_keeps_the_saved_ones_and_writes_nothing_of_its_own(workspace, tmp_path, monkeypatch):
    ws, _ = workspace
    script = load_script("transfer_curve")
    results = tmp_path / "curve.json"
    saved = {"runs": [{"row": "base", "student": "spread", "seed": 1}]}
    results.write_text(json.dumps(saved))

    def failing(name, *args, cwd):
        raise script.TextslimError(f"stages/{name}.py failed (exit 2); this run is not saved")

    monkeypatch.setattr(script, "stage", failing)
    monkeypatch.setattr(sys, "argv", ["transfer_curve.py", "--workspace", str(ws), "--work", str(tmp_path / "work"),
                                      "--results", str(results), "--report", str(tmp_path / "curve.md"),
                                      "--plot", str(tmp_path / "curve"), "--rows", "base", "--seeds", "2",
                                      "--students", "spread"])
    with pytest.raises(script.TextslimError, match="not saved"):
        script.main()
    assert json.loads(results.read_text()) == saved
    assert not (tmp_path / "curve.md").exists() and not (tmp_path / "curve").exists()


def test_a_workspace_without_a_run_is_one_line_naming_what_is_missing(tmp_path, monkeypatch):
    script = load_script("transfer_curve")
    (tmp_path / "params.yaml").write_text("seed: 1\n")
    monkeypatch.setattr(sys, "argv", ["transfer_curve.py", "--workspace", str(tmp_path), "--rows", "base"])
    with pytest.raises(script.TextslimError, match="model.safetensors is missing: run `make repro` first"):
        script.main()


def test_each_teacher_s_runs_keep_a_section_of_their_own_beside_its_scores(workspace, tmp_path, monkeypatch):
    """A retrained teacher (make repro on another CPU) neither drops nor reuses the runs of the one before it."""
    ws, _ = workspace
    script = load_script("transfer_curve")
    results, report = tmp_path / "curve.json", tmp_path / "curve.md"
    form = {"validation": 0.7, "test": 0.6, "drift": None, "size_mb": 1.0}
    old = {"row": "base", "student": "spread", "seed": 1, "teacher": "another", "added_texts": 0,
           "seconds": {"labelling": 0, "training": 1, "heavy": 1, "trim": 1}, "forms": {"distilled": form},
           "cpu": "an older CPU"}
    older = {**old, "teacher": "unscored", "cpu": "a CPU gone"}
    another = {"validation": 0.9, "test": 0.8, "drift": None, "size_mb": 9.0, "cpu": "an older CPU"}
    results.write_text(json.dumps({"runs": [old, older], "teachers": {"another": another}}))
    argv = ["transfer_curve.py", "--workspace", str(ws), "--results", str(results), "--report", str(report),
            "--plot", str(tmp_path / "curve")]
    ran = []
    this = script.teacher_digest(ws)
    monkeypatch.setattr(script, "run_one", lambda row, student, seed, chains, *_: ran.append(chains) or {
        **old, "teacher": this, "seconds": {"labelling": 0, "training": 1, "heavy": 1}, "cpu": "this CPU",
        "forms": {"distilled": {**form, "test": 0.5}}})
    monkeypatch.setattr(sys, "argv", [*argv, "--rows", "base", "--students", "spread", "--seeds", "1"])
    script.main()
    assert ran == [["heavy"]]  # the other teacher's run is not this teacher's: only the chains asked for
    saved = json.loads(results.read_text())
    assert [r["teacher"] for r in saved["runs"]] == ["another", "unscored", this]  # none replaced
    assert saved["teachers"]["another"] == another
    mine = saved["teachers"][this]
    assert mine["test"] == json.loads((ws / "metrics/teacher.json").read_text())["test"]["accuracy"]
    assert mine["validation"] == json.loads(
        (ws / "metrics/teacher-deployed.json").read_text())["source_validation"]["accuracy"]

    text = report.read_text()
    sections = text.split("\n## Teacher ")[1:]
    assert [s.split("`")[1] for s in sections] == ["another", "unscored", this]  # ties keep the saved order
    preamble, scored, unscored, here = text.split("\n## Teacher ")[0], *sections
    assert "Runs on: an older CPU." in scored
    assert "| spread | base | distilled | 1 | 70.00 | 60.00 | -20.00 |" in scored
    assert "| teacher | – | PyTorch | – | 90.00 | 80.00 | +0.00 |" in scored
    assert "not recorded here" in unscored and "| spread | base | distilled | 1 | 70.00 | 60.00 | – |" in unscored
    assert "| teacher |" not in unscored
    gap = f"{100 * (0.5 - mine['test']):+.2f}"
    assert f"| spread | base | distilled | 1 | 70.00 | 50.00 | {gap} |" in here
    assert "teacher `another`" in preamble  # the plot draws the first section's runs
    plotted = pd.read_csv(tmp_path / "curve" / "spread-distilled.csv")
    assert plotted["test_accuracy"].tolist() == [60.0]

    results.write_text(json.dumps({"runs": []}))
    monkeypatch.setattr(sys, "argv", [*argv, "--report-only"])
    with pytest.raises(script.TextslimError, match="no runs in"):
        script.main()


def test_an_override_reaches_nested_keys_and_a_misspelt_one_is_refused(tmp_path):
    script = load_script("transfer_curve")
    params = script.override({"data": {"source": "x"}}, {"data.unlabelled": ["a"], "pretrained.model": "m"})
    assert params == {"data": {"source": "x", "unlabelled": ["a"]}, "pretrained": {"model": "m"}}
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(script.override({}, {"data.unlabeled": ["a"]})))
    with pytest.raises(script.TextslimError, match="unlabeled"):
        script.load_params(bad)


def test_a_row_that_changes_the_training_schedule_is_reported_but_not_drawn_on_the_curve(monkeypatch):
    script = load_script("transfer_curve")
    monkeypatch.setattr(script, "ROWS", {"base": {}, "more": {"data.unlabelled": ["x"]},
                                         "more-1epoch": {"data.unlabelled": ["x"], "distill.epochs": 1}})
    form = {"validation": 0.8, "test": 0.8, "drift": None, "size_mb": 1.0}
    runs = [{"row": row, "student": "spread", "seed": 1, "added_texts": added, "forms": {"distilled": form}}
            for row, added in (("base", 0), ("more", 50), ("more-1epoch", 10))]
    curve = script.points(runs, train_texts=100)
    assert curve["texts_taught"].tolist() == [100, 150]  # the 1-epoch row's 110 texts are not a point of the curve
    assert script.on_the_curve("base") and not script.on_the_curve("more-1epoch")
    assert script.override({}, script.ROWS["more-1epoch"]) == {"data": {"unlabelled": ["x"]}, "distill": {"epochs": 1}}


def test_every_row_starts_from_the_base_transfer_set_whatever_the_workspace_defaults_to(tmp_path):
    """params.yaml's defaults took the 1-epoch dialogue row after the curve measured it: the base row must still be the
    labelled texts alone at 2 epochs, or the curve would compare a row with itself."""
    script = load_script("transfer_curve")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(
        {"data": {"unlabelled": ["builtin:movie-dialogue"], "unlabelled_max": 10000}, "distill": {"epochs": 1},
         "augment": {"copies": 3}, "quantize": {"mode": "auto"}}))
    base = script.run_params("base", "spread", 7, ["heavy"], tmp_path)
    assert base["data"]["unlabelled"] == [] and base["data"]["unlabelled_max"] is None
    assert base["distill"]["epochs"] == 2 and base["augment"]["copies"] == 0 and base["distill"]["seed"] == 7
    assert base["quantize"]["mode"] == "dynamic" and base["compress"]["variants"] == ["heavy"]
    row = script.run_params("dialogue-10k-1epoch", "spread", 7, ["heavy"], tmp_path)
    assert row["data"]["unlabelled_max"] == 10000 and row["distill"]["epochs"] == 1


def test_the_source_rest_row_names_the_workspaces_labelled_source_as_unlabelled_texts(tmp_path, tiny_csv):
    """What label_unlabelled then keeps of it, the texts the train limit left out, is tested in test_corpora."""
    script = load_script("transfer_curve")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"data": {"source": str(tiny_csv)}}))
    params = script.with_source_texts(script.run_params("source-rest", "spread", 1, ["heavy"], tmp_path), tmp_path)
    assert params["data"]["unlabelled"] == [str(tiny_csv)]
    base = script.with_source_texts(script.run_params("base", "spread", 1, ["heavy"], tmp_path), tmp_path)
    assert base["data"]["unlabelled"] == []
