"""Run a stage script inside the test process, as `python stages/NAME.py ARGS` runs it: its `__main__` block
(run_stage: one-line errors, exit code 2), with sys.argv and the working directory set and stderr captured.

Why not a subprocess: a stage's own Python process spends about 7 s importing torch, transformers and ONNX Runtime
before it reads its first argument, and the test process has them loaded already. The scripts' own processes stay
covered by the end-to-end `dvc repro` (tests/test_pipeline_e2e.py).
"""

import contextlib
import io
import os
import runpy
import sys
from dataclasses import dataclass
from pathlib import Path

STAGES = Path(__file__).resolve().parents[1] / "stages"


@dataclass
class StageRun:
    returncode: int
    stderr: str


def run_stage_script(name: str, *args: str, cwd: str | Path = ".") -> StageRun:
    script = STAGES / f"{name}.py"
    argv, here, stderr = sys.argv, os.getcwd(), io.StringIO()
    code = 0
    try:
        os.chdir(cwd)
        sys.argv = [str(script), *map(str, args)]
        with contextlib.redirect_stderr(stderr):
            runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    finally:
        sys.argv = argv
        os.chdir(here)
    return StageRun(code, stderr.getvalue())


def run_ok(name: str, *args) -> None:
    """A stage that must succeed: its stderr's tail in the failure."""
    run = run_stage_script(name, *args)
    assert run.returncode == 0, f"{name}: {run.stderr[-2000:]}"


def teacher_and_transfer_set(params: Path, work: Path) -> list:
    """The stages up to the students, as dvc.yaml chains them, into work/: prepare_data, finetune_teacher, augment,
    prepare_drift, label_unlabelled. Returns the transfer-set arguments every distill and prune call takes."""
    p, data = ["--params", params], work / "data"
    run_ok("prepare_data", *p, "--out", data, "--report-out", work / "data.json")
    run_ok("finetune_teacher", *p, "--data", data, "--model-out", work / "teacher", "--logits-out", work / "logits",
           "--metrics-out", work / "teacher.json", "--live-dir", work / "live")
    run_ok("augment", *p, "--data", data, "--teacher", work / "teacher", "--out", work / "augmented")
    run_ok("prepare_drift", *p, "--data", data, "--out", work / "drift", "--report-out", work / "drift.json")
    run_ok("label_unlabelled", *p, "--data", data, "--drift", work / "drift", "--teacher", work / "teacher",
           "--out", work / "unlabelled", "--report-out", work / "unlabelled.json")
    return ["--augmented", work / "augmented", "--unlabelled", work / "unlabelled"]
