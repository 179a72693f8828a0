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
