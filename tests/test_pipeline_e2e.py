"""The real `dvc repro` on a tiny profile in a temporary git repo: every output appears, a second repro does
nothing, a change to prune.* reruns prune and the stages after it, no others, and a param changed and changed back
(`dvc exp run -S`) comes back from DVC's run cache without running a single training stage.

The tiny repo is built and reproduced once per worker; every scenario works on its own copy of it (git history, DVC
cache and outputs), so each stands alone whatever order it runs in, or with the others deselected."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.tiny import sentences

REPO = Path(__file__).resolve().parents[1]
# Two students cover both compression paths: spread is a transformer (heads and FFN pruned structurally), lstm is
# not (pruned unstructured). The other recipes run the same stages; their own tests cover their code.
STUDENTS = ["spread", "lstm"]
TEACHER_FORMS = {"export_teacher", "quantize_teacher", "evaluate_teacher"}
UPSTREAM = ({"prepare_data", "prepare_drift", "finetune_teacher", "augment", "label_unlabelled", "baseline"}
            | {f"{stage}@{s}" for stage in ("distill_student", "evaluate_distilled") for s in STUDENTS})
VARIANT = "heavy"  # the one compression variant of the first run; a second is added in a scenario
CHAIN_STAGES = ("prune", "export_onnx", "quantize", "evaluate")
DOWNSTREAM_OF_PRUNE = {f"{stage}@{s}-{VARIANT}" for stage in CHAIN_STAGES
                       for s in STUDENTS} | {"compare", "select", "report"}
# Stages that train: finetune_teacher, every distill_student@S, and prune@S (its recovery distillation).
TRAINING = ("finetune_teacher", "distill_student@", "prune@")


pytestmark = pytest.mark.e2e


def _tiny_params(csv: Path, teacher: Path, sentence_body: Path, drift: Path) -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    # the drift check on another tiny set, its labels named otherwise
    params["drift"].update(source=str(drift), label_map={"good": "pos", "bad": "neg"}, max_texts=40)
    params["data"].update(source=str(csv), validation_fraction=0.2, test_fraction=0.2, unlabelled=[],
                          unlabelled_max=None)  # the default's 10k dialogue lines would outweigh the tiny data
    params["teacher"].update(model=str(teacher), epochs=1, max_length=32, batch_size=16)
    params["distill"].update(students=STUDENTS, epochs=1, max_length=32, batch_size=16)
    params["first"].update(num_layers=2)
    params["spread"].update(num_layers=2)
    params["prune"].update(importance_texts=32, recovery_epochs=1)
    params["compress"]["variants"] = [VARIANT]
    params["setfit"].update(body=str(sentence_body), shots_per_class=4, num_iterations=2, epochs=1, max_length=32,
                            batch_size=16)
    params["lstm"].update(embedding_dim=16, hidden_size=16, min_count=1, epochs=1, max_length=32)
    params["compare"].update(latency_texts=8, warmup=1, throughput_rounds=1)
    return params


def _run(args: list[str], cwd: Path, stdout_only: bool = False) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "HF_HUB_OFFLINE": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout if stdout_only else done.stdout + done.stderr


def _ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture(scope="module")
def built_repo(tmp_path_factory, tiny_teacher, tiny_csv, tiny_sentence_body) -> tuple[Path, str]:
    """The tiny profile in a git repo after its first `dvc repro`, committed; and that repro's output."""
    work = tmp_path_factory.mktemp("pipeline")
    shutil.copy(REPO / "dvc.yaml", work / "dvc.yaml")
    shutil.copytree(REPO / "stages", work / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    # Stage deps name library files (textslim/...): a copy makes the temp repo self-contained.
    shutil.copytree(REPO / "textslim", work / "textslim", ignore=shutil.ignore_patterns("__pycache__"))
    drift = tmp_path_factory.mktemp("drift") / "other-domain.csv"
    sentences(80, seed=5).assign(label=lambda f: f["label"].map({"pos": "good", "neg": "bad"})).to_csv(drift,
                                                                                                     index=False)
    params = _tiny_params(tiny_csv, tiny_teacher, tiny_sentence_body, drift)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _run(["git", "init", "-q"], work)
    _run(["dvc", "init", "-q"], work)
    _run(["git", "add", "-A"], work)
    _run(["git", "commit", "-qm", "tiny profile"], work)
    first = _run(["dvc", "repro"], work)
    _run(["git", "add", "-A"], work)
    _run(["git", "commit", "-qm", "first run"], work)
    return work, first


@pytest.fixture
def pipeline_repo(built_repo, tmp_path) -> Path:
    """This scenario's own copy of the reproduced repo (DVC's cache lives inside it, under .dvc/cache)."""
    return shutil.copytree(built_repo[0], tmp_path / "repo", symlinks=True)


def test_repro_builds_every_declared_output_then_reruns_only_what_changed(built_repo, pipeline_repo):
    assert UPSTREAM | DOWNSTREAM_OF_PRUNE | TEACHER_FORMS <= _ran(built_repo[1])
    lock = yaml.safe_load((pipeline_repo / "dvc.lock").read_text())
    outputs = [out["path"] for stage in lock["stages"].values() for out in stage.get("outs", [])]
    # 12 stages once, distill and evaluate_distilled per student, 4 per compression chain
    assert len(lock["stages"]) == 12 + 2 * len(STUDENTS) + 4 * len(STUDENTS)
    missing = [path for path in outputs if not (pipeline_repo / path).exists()]
    assert not missing, f"declared outputs missing: {missing}"
    # Each side report lives only in the folder of the stage that wrote it: nothing relays it to the next folder.
    writers = {"sparsity.json": "models/pruned", "parity.json": "models/onnx", "quantize.json": "models/quantized"}
    for report, folder in writers.items():
        # (models/deploy is a copy of the picked folder as it is: a deployable artifact, read by no stage)
        found = sorted(str(p.parent.relative_to(pipeline_repo)) for p in (pipeline_repo / "models").rglob(report)
                       if p.parent.name != "deploy")
        owners = [f"{folder}/{s}.{VARIANT}" for s in STUDENTS] + ([] if report == "sparsity.json" else
                                                                [f"{folder}/teacher"])
        assert found == sorted(owners), report
    for name in ("accuracy_vs_latency.png", "size.png", "training_curves.png", "confusion_best.png"):
        assert (pipeline_repo / "plots" / name).stat().st_size > 1000
    summary = yaml.safe_load((pipeline_repo / "metrics" / "summary.json").read_text())
    names = {v["name"] for v in summary["variants"]}
    expected = ({"teacher", "teacher-int8", "tfidf-logreg", f"spread.{VARIANT}-fp32"}
                | {f"{s}.{VARIANT}-int8" for s in STUDENTS} | {f"{s}-distilled" for s in STUDENTS})
    assert expected <= names
    assert summary["best_student"].endswith("-int8")
    # the roofline, threads and batch sizes, and INT8 at batch 1, for every variant they apply to
    test_texts = yaml.safe_load((pipeline_repo / "metrics" / "data.json").read_text())["split_sizes"]["test"]
    for row in summary["variants"]:
        assert {"batch1_ms_threads1", "batch1_ms_threads2", "texts_per_s_batch1", "texts_per_s_batch32"} <= set(row)
        if row["name"] != "tfidf-logreg":
            assert row["floor_ms_batch1"] > 0 and row["vs_floor_batch1"] > 0 and row["vs_floor_batch32"] > 0
        if row["form"] == "onnx-int8":
            assert 0 <= row["flips_vs_batched"] <= test_texts and 0 <= row["accuracy_batch1"] <= 1
    assert [b["batch"] for b in summary["where_the_time_goes"]] == [1, 32]
    assert all(b["session_run_ms"] > 0 and b["gemm_kernels_ms"] >= 0 for b in summary["where_the_time_goes"])
    assert summary["cpu"]["int8_path"] in ("vnni", "no-vnni", "arm64") and summary["cpu"]["model"]
    report = (pipeline_repo / "reports" / "summary.md").read_text()
    assert "## Against the hardware's floor" in report and "## Where the time goes" in report
    # the drift check: the PyTorch teacher and every deployed form scored off the domain, in the report
    assert all("drift_accuracy" in row for row in summary["variants"]
               if row["name"] == "teacher" or row["form"] in ("onnx-fp32", "onnx-int8"))
    assert "## Off the training domain (drift check)" in report
    # every variant's validation accuracy, which the select stage picks by (the test split picks nothing), and its pick
    assert all(0 <= row["validation_accuracy"] <= 1 for row in summary["variants"])
    deployed = yaml.safe_load((pipeline_repo / "metrics" / "deploy.json").read_text())
    assert deployed["form"] in ("onnx-fp32", "onnx-int8") and (pipeline_repo / "models/deploy/model.onnx").is_file()
    assert f"`{deployed['variant']}`" in report.splitlines()[2]  # the report's first line after its title

    assert _ran(_run(["dvc", "repro"], pipeline_repo)) == set()
    params = yaml.safe_load((pipeline_repo / "params.yaml").read_text())
    params["prune"]["ffn_fraction"] = 0.25
    (pipeline_repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # Every prune stage depends on the prune section; the BiLSTM is pruned unstructured, so its outputs come out
    # identical and DVC rightly skips what follows it.
    structured = {f"spread-{VARIANT}"}
    expected = {stage for stage in DOWNSTREAM_OF_PRUNE
                if stage.startswith("prune@") or "@" not in stage or stage.split("@")[1] in structured}
    assert _ran(_run(["dvc", "repro"], pipeline_repo)) == expected
    spread = yaml.safe_load((pipeline_repo / "metrics" / "students" / f"spread.{VARIANT}.json").read_text())
    assert spread["sparsity"]["structured"]["intermediate_size_after"] == round(0.75 * 37)


def test_a_param_changed_and_changed_back_comes_from_the_run_cache(pipeline_repo):
    """What `dvc exp run -S spread.hidden_weight=0.5` then `-S spread.hidden_weight=0.0` does: the second run
    restores every stage the first one changed (the intermediate-layer loss is exercised on the way).

    Both runs stop at prune@spread-heavy, the last training stage the change reaches: the stages after it do not
    train, and the first scenario already checks that a prune change reaches them."""
    target = f"prune@spread-{VARIANT}"
    changed = _run(["dvc", "exp", "run", "-S", "spread.hidden_weight=0.5", target], pipeline_repo)
    assert _ran(changed) == {"distill_student@spread", target}
    back = _run(["dvc", "exp", "run", "-S", "spread.hidden_weight=0.0", target], pipeline_repo)
    trained = sorted(stage for stage in _ran(back) if stage.startswith(TRAINING))
    assert not trained, f"trained again instead of restoring from the run cache: {trained}"
    assert "is cached - skipping run" in back


def test_a_new_unlabelled_corpus_never_retrains_the_teacher(pipeline_repo, tiny_csv):
    """data.unlabelled added: the teacher labels the new texts in their own stage, a student distils on them (and its
    prune stage's recovery), and the teacher itself is not trained again. The stages after prune do not train; this
    scenario does not run them (the report's corpus lines are a unit test in test_corpora)."""
    labelled = set(pd.read_csv(tiny_csv)["text"])
    texts = [t for t in dict.fromkeys(sentences(60, seed=11)["text"]) if t not in labelled]
    (pipeline_repo / "more.txt").write_text("\n".join(texts) + "\n")
    params = yaml.safe_load((pipeline_repo / "params.yaml").read_text())
    params["data"]["unlabelled"] = ["more.txt"]
    (pipeline_repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # Up to the last training stage the corpus reaches (the prune stage's recovery distils on the same transfer set);
    # the stages after it do not train, and the report's lines on the corpus are tested on their own (test_corpora).
    ran = _ran(_run(["dvc", "repro", f"prune@spread-{VARIANT}"], pipeline_repo))
    assert {"label_unlabelled", "distill_student@spread", f"prune@spread-{VARIANT}"} <= ran
    assert "finetune_teacher" not in ran and "augment" not in ran
    record = yaml.safe_load((pipeline_repo / "models" / "students" / "spread" / "textslim_student.json").read_text())
    assert record["transfer_unlabelled_texts"] == len(texts)


def test_a_compression_variant_added_runs_only_its_own_stages(pipeline_repo):
    """compress.variants gains `trim`: each student's trim chain (prune, export, quantize, evaluate) is out of date,
    and the comparison and the report, nothing else; a trim chain run for real trims the vocabulary and prunes
    nothing. compare, select and report are not run on two variants here: which chains they read and how the rows
    are named is a unit test (test_report)."""
    params = yaml.safe_load((pipeline_repo / "params.yaml").read_text())
    params["compress"]["variants"] = [VARIANT, "trim"]
    (pipeline_repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # The stages out of date, exactly: the new chains, and the two that read every chain (their deps changed). No
    # other student or chain; select follows compare's output. Then one student's trim chain runs for real.
    out_of_date = set(json.loads(_run(["dvc", "status", "--json"], pipeline_repo, stdout_only=True)))
    assert out_of_date == {f"{stage}@{s}-trim" for stage in CHAIN_STAGES for s in STUDENTS} | {"compare", "report"}
    ran = _ran(_run(["dvc", "repro", "evaluate@spread-trim"], pipeline_repo))
    assert ran == {f"{stage}@spread-trim" for stage in CHAIN_STAGES}
    scored = yaml.safe_load((pipeline_repo / "metrics" / "students" / "spread.trim.json").read_text())
    assert {"onnx-fp32", "onnx-int8"} <= set(scored["forms"])
    trim = yaml.safe_load((pipeline_repo / "metrics" / "students" / "spread.trim.json").read_text())["sparsity"]
    # trimmed, nothing pruned (the tiny vocabulary is all single characters and specials: trimming keeps it whole)
    assert trim["method"] == "none" and "structured" not in trim
    assert trim["vocabulary"]["vocab_after"] <= trim["vocabulary"]["vocab_before"]


def test_a_fresh_clone_gets_every_model_from_a_remote_and_has_nothing_to_run(pipeline_repo, tmp_path):
    """Sharing through a DVC remote (a local directory here): push, clone, pull, and `dvc repro` runs nothing."""
    remote = tmp_path / "remote"
    _run(["dvc", "remote", "add", "-d", "shared", str(remote)], pipeline_repo)
    _run(["git", "add", "-A"], pipeline_repo)
    _run(["git", "commit", "-qm", "results and remote"], pipeline_repo)
    _run(["dvc", "push"], pipeline_repo)

    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", str(pipeline_repo), str(clone)], tmp_path)
    assert not (clone / "models" / "teacher").exists()
    _run(["dvc", "pull"], clone)
    lock = yaml.safe_load((clone / "dvc.lock").read_text())
    outputs = [out["path"] for stage in lock["stages"].values() for out in stage.get("outs", [])]
    assert all((clone / path).exists() for path in outputs)
    assert (clone / "models" / "teacher" / "model.safetensors").is_file()
    assert _ran(_run(["dvc", "repro"], clone)) == set()
