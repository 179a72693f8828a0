"""Stage scripts turn bad input into one line on stderr, exit code 2, and write nothing."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def _stage(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "stages" / f"{name}.py"), *args], cwd=cwd,
                          capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})


def _params(tmp_path: Path, **sections) -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in sections.items():
        params[section].update(values)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def _assert_one_line_error(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()  # progress logs may come first; the error is the one last line
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == lines[-1:], done.stderr
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in errors[0]


@pytest.mark.parametrize("data, fragments", [
    ({"source": "missing.csv"}, ["data.source", "file not found"]),
    ({"source": "bad.csv"}, ["data.source", "not valid UTF-8"]),
    ({"source": "onecls.csv"}, ["only one class"]),
    ({"source": "good.csv", "label_column": "sentiment"}, ["data.label_column", "sentiment"]),
    ({"source": "builtin:imdb"}, ["unknown built-in"]),
])
def test_prepare_data_rejects_bad_datasets_and_writes_nothing(tmp_path, tiny_csv, data, fragments):
    (tmp_path / "bad.csv").write_bytes(b"text,label\n\xff\xfe broken,a\n")
    (tmp_path / "onecls.csv").write_text("text,label\nhello,a\nworld,a\n")
    (tmp_path / "good.csv").write_bytes(tiny_csv.read_bytes())
    done = _stage("prepare_data", "--params", str(_params(tmp_path, data=data)), "--out", "out", cwd=tmp_path)
    _assert_one_line_error(done, *fragments)
    assert not (tmp_path / "out").exists()
    assert not any(p.name.startswith(".out") for p in tmp_path.iterdir())


def test_prune_rejects_amount_outside_range(tmp_path, tiny_teacher):
    done = _stage("prune", "--params", str(_params(tmp_path, prune={"amount": 1.2})), "--model", str(tiny_teacher),
                  "--out", "pruned", cwd=tmp_path)
    _assert_one_line_error(done, "prune.amount = 1.2")
    assert not (tmp_path / "pruned").exists()


def test_distill_rejects_num_layers_not_below_teacher_depth(tmp_path, tiny_teacher, tiny_csv):
    params = _params(tmp_path, data={"source": str(tiny_csv)}, distill={"num_layers": 4, "students": ["first"]})
    assert _stage("prepare_data", "--params", str(params), "--out", "data", cwd=tmp_path).returncode == 0
    logits = tmp_path / "logits"
    logits.mkdir()
    import numpy as np
    import pandas as pd

    for split in ("train", "validation"):
        n = len(pd.read_parquet(tmp_path / "data" / f"{split}.parquet"))
        np.save(logits / f"{split}.npy", np.zeros((n, 2), dtype=np.float32))
    done = _stage("distill_student", "--params", str(params), "--strategy", "first", "--data", "data",
                  "--teacher", str(tiny_teacher), "--teacher-logits", "logits", "--out", "student",
                  "--live-dir", "live", cwd=tmp_path)
    _assert_one_line_error(done, "distill.num_layers = 4", "4-layer teacher")
    assert not (tmp_path / "student").exists()


def test_unknown_quantize_preset_is_rejected(tmp_path):
    done = _stage("quantize", "--params", str(_params(tmp_path, quantize={"preset": "avx9"})), "--model", "m",
                  "--out", "q", cwd=tmp_path)
    _assert_one_line_error(done, "quantize.preset = 'avx9'")
