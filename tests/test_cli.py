"""Stage scripts turn bad input into one line on stderr, exit code 2, and write nothing."""

from pathlib import Path

import pytest
import yaml

from tests.stages import StageRun
from tests.stages import run_stage_script as _stage

REPO = Path(__file__).resolve().parents[1]


def _params(tmp_path: Path, **sections) -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in sections.items():
        params[section].update(values)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def _assert_one_line_error(done: StageRun, *fragments: str) -> None:
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
    done = _stage("prepare_data", "--params", str(_params(tmp_path, data=data)), "--out", "out", "--report-out",
                  "data.json", cwd=tmp_path)
    _assert_one_line_error(done, *fragments)
    assert not (tmp_path / "out").exists()
    assert not any(p.name.startswith(".out") for p in tmp_path.iterdir())


@pytest.mark.parametrize("prune, fragment", [
    ({"amount": 1.2}, "prune.amount = 1.2"),
    ({"head_fraction": 1.0}, "prune.head_fraction = 1.0"),
    ({"ffn_fraction": -0.1}, "prune.ffn_fraction = -0.1"),
    ({"method": "magic"}, "prune.method = 'magic'"),
    ({"extra_vocabulary": "missing.txt"}, "prune.extra_vocabulary = 'missing.txt'"),
])
def test_prune_rejects_bad_params(tmp_path, tiny_teacher, prune, fragment):
    done = _stage("prune", "--variant", "heavy", "--params", str(_params(tmp_path, prune=prune)),
                  "--model", str(tiny_teacher), "--data", "data", "--teacher-logits", "logits",
                  "--unlabelled", "unlabelled", "--augmented", "augmented", "--out", "pruned", cwd=tmp_path)
    _assert_one_line_error(done, fragment)
    assert not (tmp_path / "pruned").exists()


def test_prune_names_an_unknown_variant(tmp_path, tiny_teacher):
    done = _stage("prune", "--variant", "gentle", "--params", str(_params(tmp_path)), "--model", str(tiny_teacher),
                  "--data", "data", "--teacher-logits", "logits", "--unlabelled", "unlabelled", "--augmented",
                  "augmented", "--out", "pruned", cwd=tmp_path)
    _assert_one_line_error(done, "--variant 'gentle': no such compress.settings entry",
                           "(known: full, heavy, light, trim)")
    assert not (tmp_path / "pruned").exists()


def _prepared_with_logits(tmp_path: Path, params: Path) -> Path:
    """prepare_data on the tiny CSV, zero teacher logits for its train and validation splits, and empty unlabelled and
    augmented transfer sets, as label_unlabelled and augment leave them without data.unlabelled or augment.size."""
    prepared = _stage("prepare_data", "--params", str(params), "--out", "data", "--report-out", "data.json",
                      cwd=tmp_path)
    assert prepared.returncode == 0, prepared.stderr
    import numpy as np
    import pandas as pd

    logits = tmp_path / "logits"
    logits.mkdir()
    for split in ("train", "validation"):
        n = len(pd.read_parquet(tmp_path / "data" / f"{split}.parquet"))
        np.save(logits / f"{split}.npy", np.zeros((n, 2), dtype=np.float32))
    for name in ("unlabelled", "augmented"):
        (tmp_path / name).mkdir()
        pd.DataFrame({"text": pd.Series([], dtype=str)}).to_parquet(tmp_path / name / "texts.parquet")
        np.save(tmp_path / name / "teacher_logits.npy", np.zeros((0, 2), dtype=np.float32))
    return logits


def test_prune_refuses_a_head_fraction_that_empties_a_layer(tmp_path, tiny_teacher, tiny_csv):
    import shutil

    from textslim.forms import STUDENT_FILE

    student = shutil.copytree(tiny_teacher, tmp_path / "student")
    (student / STUDENT_FILE).write_text('{"max_length": 24}')  # as the distill stage leaves it
    params = _params(tmp_path, data={"source": str(tiny_csv)}, prune={"head_fraction": 0.9})
    logits = _prepared_with_logits(tmp_path, params)
    done = _stage("prune", "--variant", "heavy", "--params", str(params), "--model", str(student), "--data", "data",
                  "--teacher-logits", str(logits), "--unlabelled", "unlabelled", "--augmented", "augmented",
                  "--out", "pruned", cwd=tmp_path)
    _assert_one_line_error(done, "prune.head_fraction")
    assert not (tmp_path / "pruned").exists()


def test_distill_rejects_num_layers_not_below_teacher_depth(tmp_path, tiny_teacher, tiny_csv):
    params = _params(tmp_path, data={"source": str(tiny_csv)}, first={"num_layers": 4},
                     distill={"students": ["first"]})
    logits = _prepared_with_logits(tmp_path, params)
    done = _stage("distill_student", "--params", str(params), "--strategy", "first", "--data", "data",
                  "--teacher", str(tiny_teacher), "--teacher-logits", str(logits), "--out", "student",
                  "--augmented", "augmented", "--unlabelled", "unlabelled", "--live-dir", "live", cwd=tmp_path)
    _assert_one_line_error(done, "first.num_layers = 4", "4-layer teacher")
    assert not (tmp_path / "student").exists()


def test_unknown_quantize_preset_is_rejected(tmp_path):
    done = _stage("quantize", "--params", str(_params(tmp_path, quantize={"preset": "avx9"})), "--model", "m",
                  "--data", "data", "--out", "q", cwd=tmp_path)
    _assert_one_line_error(done, "quantize.preset = 'avx9'")


@pytest.mark.parametrize("rank, finalized", [("1", False), ("0", True), (None, True)])
def test_a_rank_other_than_0_leaves_without_interpreter_finalization(tmp_path, rank, finalized):
    """Where DDP's gloo process group can deadlock on the GIL (textslim.cli._leave_without_finalization): a rank
    other than 0 that ends with exit 0 skips it (an atexit handler stands for it here); rank 0 and one process end
    as usual, and an error is still an error."""
    import os
    import subprocess
    import sys

    script = tmp_path / "stage.py"
    script.write_text("import atexit, sys\nfrom textslim.cli import run_stage\n\n"
                      "def main():\n    atexit.register(lambda: print('finalized', flush=True))\n"
                      "    print('trained', flush=True)\n    sys.exit(int(sys.argv[1]))\n\nrun_stage(main)\n")
    env = {k: v for k, v in os.environ.items() if k != "RANK"} | ({"RANK": rank} if rank else {})
    env["PYTHONPATH"] = str(REPO)
    for code in (0, 3):
        done = subprocess.run([sys.executable, str(script), str(code)], env=env, capture_output=True, text=True)
        assert done.returncode == code, done.stderr
        lines = done.stdout.split()
        assert lines == (["trained", "finalized"] if finalized or code else ["trained"])
