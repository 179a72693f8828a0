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
