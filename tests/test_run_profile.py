"""scripts/run_profile.py finds the experiment DVC saved under a name (its report is read from that ref)."""

import subprocess

import pytest

from tests.scripts import load_script


def test_experiment_ref_finds_exactly_the_named_experiment(tmp_path, monkeypatch):
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "base"], cwd=tmp_path, check=True)
    for name in ("full-profile-1", "full-profile-10"):
        subprocess.run(["git", "update-ref", f"refs/exps/ab/cdef/{name}", "HEAD"], cwd=tmp_path, check=True)
    monkeypatch.chdir(tmp_path)
    run_profile = load_script("run_profile")
    assert run_profile.experiment_ref("full-profile-1") == "refs/exps/ab/cdef/full-profile-1"
    with pytest.raises(SystemExit, match="expected one experiment named 'nope', found 0"):
        run_profile.experiment_ref("nope")


def test_the_reference_rows_are_the_other_runs_teacher_accuracies_without_its_timings():
    run_profile = load_script("run_profile")
    row = {"accuracy": 0.840125, "macro_f1": 0.836342, "size_mb": 91.814, "batch1_ms_median": 10.6}
    summary = {"variants": [{"name": "teacher", **row}, {"name": "spread-int8", **row},
                            {"name": "teacher-int8", **row, "accuracy": 0.8378}]}
    lines = run_profile.reference_lines(summary, "metrics/summary.json")
    assert "| reference teacher | 84.01 | 83.63 | 91.8 |" in lines
    assert "| reference teacher-int8 | 83.78 | 83.63 | 91.8 |" in lines
    assert not any("spread" in line or "10.6" in line for line in lines)
