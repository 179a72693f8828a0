"""The real `dvc repro` on a tiny profile in a temporary git repo: every output appears, a second repro does
nothing, and a change to prune.amount reruns prune and the stages after it, no others."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
STUDENTS = ["first", "spread", "setfit", "lstm"]
UPSTREAM = {"prepare_data", "finetune_teacher", "baseline"} | {f"distill_student@{s}" for s in STUDENTS}
DOWNSTREAM_OF_PRUNE = {f"{stage}@{s}" for stage in ("prune", "export_onnx", "quantize", "evaluate")
                       for s in STUDENTS} | {"compare"}


def _tiny_params(csv: Path, teacher: Path, sentence_body: Path) -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"].update(source=str(csv), validation_fraction=0.2, test_fraction=0.2)
    params["teacher"].update(model=str(teacher), epochs=1, max_length=32, batch_size=16)
    params["distill"].update(students=STUDENTS, num_layers=2, epochs=1, max_length=32, batch_size=16)
    params["setfit"].update(body=str(sentence_body), shots_per_class=4, num_iterations=2, epochs=1, max_length=32,
                            batch_size=16)
    params["lstm"].update(embedding_dim=16, hidden_size=16, min_count=1, epochs=1, max_length=32)
    params["compare"].update(latency_texts=8, warmup=1, throughput_rounds=1)
    return params


def _run(args: list[str], cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "HF_HUB_OFFLINE": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def _ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture(scope="module")
def pipeline_repo(tmp_path_factory, tiny_teacher, tiny_csv, tiny_sentence_body) -> Path:
    work = tmp_path_factory.mktemp("pipeline")
    shutil.copy(REPO / "dvc.yaml", work / "dvc.yaml")
    shutil.copytree(REPO / "stages", work / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    # Stage deps name library files (textslim/...): a copy makes the temp repo self-contained.
    shutil.copytree(REPO / "textslim", work / "textslim", ignore=shutil.ignore_patterns("__pycache__"))
    params = _tiny_params(tiny_csv, tiny_teacher, tiny_sentence_body)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _run(["git", "init", "-q"], work)
    _run(["dvc", "init", "-q"], work)
    _run(["git", "add", "-A"], work)
    _run(["git", "commit", "-qm", "tiny profile"], work)
    return work


def test_repro_builds_every_declared_output_then_reruns_only_what_changed(pipeline_repo):
    first = _run(["dvc", "repro"], pipeline_repo)
    assert UPSTREAM | DOWNSTREAM_OF_PRUNE <= _ran(first)
    lock = yaml.safe_load((pipeline_repo / "dvc.lock").read_text())
    outputs = [out["path"] for stage in lock["stages"].values() for out in stage.get("outs", [])]
    assert len(lock["stages"]) == 4 + 5 * len(STUDENTS)
    missing = [path for path in outputs if not (pipeline_repo / path).exists()]
    assert not missing, f"declared outputs missing: {missing}"
    for name in ("accuracy_vs_latency.png", "size.png", "training_curves.png", "confusion_best.png"):
        assert (pipeline_repo / "plots" / name).stat().st_size > 1000
    summary = yaml.safe_load((pipeline_repo / "metrics" / "summary.json").read_text())
    names = {v["name"] for v in summary["variants"]}
    expected = {"teacher", "tfidf-logreg", "spread-fp32"} | {f"{s}-int8" for s in STUDENTS}
    assert expected <= names
    assert summary["best_student"].endswith("-int8")

    assert _ran(_run(["dvc", "repro"], pipeline_repo)) == set()

    params = yaml.safe_load((pipeline_repo / "params.yaml").read_text())
    params["prune"]["amount"] = 0.5
    (pipeline_repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert _ran(_run(["dvc", "repro"], pipeline_repo)) == DOWNSTREAM_OF_PRUNE
    students = yaml.safe_load((pipeline_repo / "metrics" / "students" / "first.json").read_text())
    assert students["sparsity"]["linear_sparsity"] == pytest.approx(0.5, abs=1e-3)
