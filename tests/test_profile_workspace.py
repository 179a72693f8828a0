"""scripts/profile_workspace.py: a clone of HEAD run up to its targets with a profile's overrides by the real
`dvc exp run`, brought back to HEAD and not run again when reused, and a folder it did not make refused."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.scripts import SCRIPTS, load_script

pytestmark = pytest.mark.slow  # a git clone of this repo and two `dvc exp run`s


@pytest.fixture
def script(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))  # it imports scripts/benchmark.py, as it does when run as a script
    for name in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):  # `dvc exp run` commits the experiment in the clone
        monkeypatch.setenv(name, "t")
    for name in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(name, "t@t")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # this venv's dvc
    return load_script("profile_workspace")


def git(*args: str, cwd) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_a_profile_workspace_runs_its_targets_once_and_comes_back_to_head(script, tiny_csv, tmp_path, monkeypatch,
                                                                           capfd):
    dest = tmp_path / "workspaces" / "tiny"
    monkeypatch.setattr(sys, "argv", ["profile_workspace.py", "--dest", str(dest), "--targets", "prepare_data", "--",
                                      "-S", f"data.source={tiny_csv}", "-S", "data.test_fraction=0.25"])
    script.main()
    assert yaml.safe_load((dest / "params.yaml").read_text())["data"]["source"] == str(tiny_csv)
    sizes = json.loads((dest / "metrics/data.json").read_text())["split_sizes"]
    assert sum(sizes.values()) == len(pd.read_csv(tiny_csv)) and sizes["test"] == len(pd.read_csv(tiny_csv)) // 4
    assert not (dest / "models/teacher").exists()  # only the targets (and what they depend on) ran
    assert "Running stage 'prepare_data'" in capfd.readouterr().out

    (dest / "README.md").write_text("changed by hand\n")  # reused: back to HEAD, and nothing done is done again
    script.main()
    assert git("rev-parse", "HEAD", cwd=dest) == git("rev-parse", "HEAD", cwd=SCRIPTS.parent)
    assert git("diff", "--stat", "HEAD", "--", "README.md", cwd=dest) == ""
    again = capfd.readouterr().out
    assert "Running stage 'prepare_data'" not in again and "'prepare_data' is cached" in again


def test_a_folder_it_did_not_make_is_refused_in_one_line(script, tmp_path, monkeypatch):
    (tmp_path / "notes.txt").write_text("mine")
    monkeypatch.setattr(sys, "argv", ["profile_workspace.py", "--dest", str(tmp_path)])
    with pytest.raises(SystemExit, match="exists and is not a clone made by this script"):
        script.main()
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]
