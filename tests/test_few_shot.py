"""Few-shot, from what the user has: K labelled texts per class train a SetFit teacher (teacher.recipe: setfit), the
rest of the training texts stay as unlabelled transfer texts (counted, never discarded), and students distil from
that teacher on them, through pruning, ONNX and INT8, like from any teacher."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.stages import run_stage_script, teacher_and_transfer_set
from tests.tiny import sentences
from textslim.data import read_prepared, read_unlabelled
from textslim.forms import ONNX_INT8
from textslim.inference import load
from textslim.params import DataParams
from textslim.sources import split_with_unlabelled
from textslim.train.transfer import unlabelled_texts

pytestmark = pytest.mark.slow
SHOTS = 4


def test_the_training_texts_beyond_the_shots_stay_as_unlabelled_transfer_texts():
    frame = sentences(200)
    params = DataParams(validation_fraction=0.2, test_fraction=0.2, shots_per_class=SHOTS)
    splits, unlabelled, _ = split_with_unlabelled(frame, params, seed=0)
    assert len(splits["train"]) == 2 * SHOTS and len(unlabelled) == 120 - 2 * SHOTS
    everything = set(splits["train"]["text"]) | set(unlabelled) | set(splits["validation"]["text"]) | \
        set(splits["test"]["text"])
    assert everything == set(frame["text"])  # nothing discarded, nothing twice
    assert not set(unlabelled) & set(splits["train"]["text"])
    assert split_with_unlabelled(frame, DataParams(validation_fraction=0.2, test_fraction=0.2), seed=0)[1] == []


def _stage(name: str, *args) -> None:
    run = run_stage_script(name, *args)
    assert run.returncode == 0, f"{name}: {run.stderr[-2000:]}"


@pytest.fixture(scope="module")
def few_shot_run(tmp_path_factory, tiny_csv, tiny_sentence_body) -> Path:
    work = tmp_path_factory.mktemp("few-shot")
    params = {"data": {"source": str(tiny_csv), "validation_fraction": 0.2, "test_fraction": 0.2,
                       "shots_per_class": SHOTS},
              "teacher": {"model": str(tiny_sentence_body), "recipe": "setfit", "setfit_iterations": 2,
                          "max_length": 24, "batch_size": 8},
              "distill": {"students": ["spread", "lora"], "epochs": 1, "max_length": 24, "batch_size": 16},
              "spread": {"num_layers": 1}, "lora": {"num_layers": 1},
              "prune": {"recovery_epochs": 1, "importance_texts": 16}}
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    p = ["--params", work / "params.yaml"]
    data, logits = work / "data", work / "logits"
    transfer = teacher_and_transfer_set(p[1], work)
    _stage("distill_student", *p, "--strategy", "spread", "--data", data, "--teacher", work / "teacher",
           "--teacher-logits", logits, *transfer, "--out", work / "student", "--live-dir", work / "live-spread")
    _stage("distill_student", *p, "--strategy", "lora", "--data", data, "--teacher", work / "teacher",
           "--teacher-logits", logits, *transfer, "--out", work / "lora", "--live-dir", work / "live-lora")
    _stage("prune", "--variant", "heavy", *p, "--model", work / "student", "--data", data, "--teacher-logits", logits,
           *transfer, "--out", work / "pruned")
    for name in ("teacher", "pruned"):
        _stage("export_onnx", *p, "--model", work / name, "--data", data, "--out", work / f"onnx-{name}")
        _stage("quantize", *p, "--model", work / f"onnx-{name}", "--data", data, "--out", work / f"int8-{name}")
    return work


def test_the_data_report_counts_the_unlabelled_texts(few_shot_run):
    report = json.loads((few_shot_run / "data.json").read_text())
    splits, _ = read_prepared(few_shot_run / "data")
    unlabelled = read_unlabelled(few_shot_run / "data")
    assert report["split_sizes"]["train"] == len(splits["train"]) == 2 * SHOTS
    assert report["unlabelled"] == len(unlabelled) == 120 - 2 * SHOTS
    assert report["rows_kept"] == sum(report["split_sizes"].values()) + report["unlabelled"]
    assert report["left_out_by_train_limit"] == 0


def test_a_setfit_teacher_labels_every_transfer_text(few_shot_run):
    metrics = json.loads((few_shot_run / "teacher.json").read_text())
    assert metrics["recipe"] == "setfit" and metrics["labelled_texts"] == 2 * SHOTS
    config = json.loads((few_shot_run / "teacher" / "config.json").read_text())
    assert config["model_type"] == "textslim-setfit"
    texts, unlabelled = unlabelled_texts(few_shot_run / "unlabelled")
    assert texts == read_unlabelled(few_shot_run / "data")  # labelled by their own stage, in the prepared order
    assert unlabelled.shape == (120 - 2 * SHOTS, 2) and np.isfinite(unlabelled).all()
    assert json.loads((few_shot_run / "unlabelled.json").read_text())["few_shot_unlabelled"] == 120 - 2 * SHOTS
    live = json.loads((few_shot_run / "live" / "metrics.json").read_text())
    assert live["no_curves"].startswith("trained by SetFit")


def test_a_student_distils_from_it_on_the_unlabelled_texts_down_to_int8(few_shot_run):
    record = json.loads((few_shot_run / "student" / "textslim_student.json").read_text())
    assert record["transfer_unlabelled_texts"] == 120 - 2 * SHOTS
    assert record["teacher_layers"] == [1]  # the SetFit body's last layer
    lora = json.loads((few_shot_run / "lora" / "textslim_student.json").read_text())
    assert lora["recipe"] == "lora" and lora["transfer_unlabelled_texts"] == 120 - 2 * SHOTS
    assert json.loads((few_shot_run / "lora" / "config.json").read_text())["model_type"] == "textslim-setfit"
    sparsity = json.loads((few_shot_run / "pruned" / "sparsity.json").read_text())
    assert sparsity["method"] == "unstructured" and "textslim-setfit" in sparsity["note"]
    texts = pd.Series(sentences(10, seed=5)["text"]).tolist()
    for name in ("teacher", "pruned"):
        logits = load(ONNX_INT8, few_shot_run / f"int8-{name}", max_length=24).classify(texts).logits
        assert logits.shape == (10, 2) and np.isfinite(logits).all()
