"""Training under torchrun (TEXTSLIM_NPROC): two gloo CPU processes train one tiny model through the one loop, rank 0
saves it once; one process keeps today's training arguments."""

import ast
import json
import os
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from textslim.cli import run_stage
from textslim.errors import TextslimError
from textslim.params import DistillParams, TeacherParams, TrainParams
from textslim.train import distributed, loop

REPO = Path(__file__).resolve().parents[1]

# A stage in miniature: train_classifier, then an atomic save, under run_stage(relaunch=relaunch_under_torchrun).
# Each rank records the order its sampler gives every epoch (train and eval), and a marker once it is past
# train_classifier.
TRAIN_SCRIPT = '''
import json, os, sys
from pathlib import Path

from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed, trainer_pt_utils

from tests.tiny import FILLER, LABELS, sentences
from textslim.atomic import atomic_dir, write_json
from textslim.cli import run_stage
from textslim.train.loop import tokenize_frame, train_classifier
from textslim.train.distributed import relaunch_under_torchrun
from textslim.params import TrainParams


def frame(n, seed):
    """Reviews of 7 to 13 words: batches of different lengths, so that dropout draws differ between the ranks."""
    rows = sentences(n, seed)
    text = [t + " " + " ".join(FILLER[: i % 7]) for i, t in enumerate(rows["text"])]
    return rows.assign(text=text, label=rows["label"].map(LABELS.index))


def main():
    model_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    rank = os.environ.get("RANK", "0")
    sampler_iter = trainer_pt_utils.LengthGroupedSampler.__iter__

    def recorded(self):
        order = list(sampler_iter(self))
        with open(out / "orders" / f"rank{rank}.jsonl", "a") as f:
            f.write(json.dumps(order) + "\\n")
        return iter(order)

    trainer_pt_utils.LengthGroupedSampler.__iter__ = recorded
    set_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    train, validation = (tokenize_frame(frame(n, seed), tokenizer, 32) for n, seed in ((48, 0), (16, 1)))
    params = TrainParams(epochs=2, batch_size=8, learning_rate=1e-3, head_learning_rate=1e-3, warmup_ratio=0.0,
                         early_stopping_patience=2)
    history = train_classifier(model, tokenizer, train, validation, params, seed=0, live_dir=out / "live")
    (out / f"after-training-rank{rank}").touch()
    with atomic_dir(out / "model") as tmp:
        model.save_pretrained(tmp)
        write_json(tmp / "run.json", {"history": history, "rank": rank, "world_size": os.environ.get("WORLD_SIZE")})


run_stage(main, relaunch=relaunch_under_torchrun)
'''

# Rank 1 fails at once; rank 0 would take a minute (it is stopped when rank 1 fails).
FAIL_SCRIPT = '''
import os, time
from textslim.cli import run_stage
from textslim.train.distributed import relaunch_under_torchrun
from textslim.errors import TextslimError


def main():
    if os.environ["RANK"] == "1":
        raise TextslimError("rank 1 gives up")
    time.sleep(60)


run_stage(main, relaunch=relaunch_under_torchrun)
'''


def _run(script: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "script.py"
    path.write_text(script)
    (tmp_path / "tmp").mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE")}
    # CPU processes, whatever the machine: with a GPU visible, TEXTSLIM_NPROC=2 asks for two GPUs (one per process).
    # This repo first on the path, whatever the path held (packages installed with --target, say).
    python_path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env.update(CUDA_VISIBLE_DEVICES="", TEXTSLIM_NPROC="2", PYTHONPATH=python_path, TMPDIR=str(tmp_path / "tmp"),
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return subprocess.run([sys.executable, str(path), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow  # launches training processes under torchrun
def test_two_cpu_processes_train_one_model_and_rank_0_saves_it_once(tmp_path, tiny_teacher):
    out = tmp_path / "out"
    (out / "orders").mkdir(parents=True)
    done = _run(TRAIN_SCRIPT, tmp_path, str(tiny_teacher), str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "running the stage under torchrun" in done.stderr

    run = json.loads((out / "model" / "run.json").read_text())
    assert run["rank"] == "0" and run["world_size"] == "2"
    # 48 texts, batch_size 8 split as 4 + 4 over the two ranks: 6 steps an epoch (12 if each rank trained alone).
    assert [(e["epoch"], e["step"]) for e in run["history"]] == [(1.0, 6), (2.0, 12)]
    before, after = load_file(tiny_teacher / "model.safetensors"), load_file(out / "model" / "model.safetensors")
    assert any(not torch.equal(before[name], after[name]) for name in before)

    # Both ranks drew the same order every epoch (the shards partition it): train and eval, two epochs.
    orders = [(out / "orders" / f"rank{r}.jsonl").read_text().splitlines() for r in (0, 1)]
    assert len(orders[0]) == 4 and orders[0] == orders[1]

    # Saved once, by rank 0: rank 1 left from inside train_classifier; no temporary directory is left anywhere.
    assert sorted(p.name for p in out.iterdir()) == ["after-training-rank0", "live", "model", "orders"]
    assert len((out / "live" / "plots" / "metrics" / "eval" / "macro_f1.tsv").read_text().splitlines()) == 1 + 2
    assert not [p for p in (tmp_path / "tmp").iterdir() if p.name.startswith("textslim-ckpt-")]


@pytest.mark.slow  # launches training processes under torchrun
def test_a_failing_rank_fails_the_run(tmp_path):
    done = _run(FAIL_SCRIPT, tmp_path)
    assert done.returncode != 0
    assert "error: rank 1 gives up" in done.stderr


def _training_arguments(monkeypatch, params: TrainParams, live_dir=None) -> dict:
    """The keyword arguments train_classifier gives TrainingArguments (it stops there)."""
    seen = {}

    class Seen(Exception):
        pass

    def record(**kwargs):
        seen.update(kwargs)
        raise Seen

    monkeypatch.setattr(loop, "TrainingArguments", record)
    monkeypatch.setattr(loop, "epoch_curves_callback", lambda live: pytest.fail("a DVCLive callback off rank 0"))
    with pytest.raises(Seen):
        loop.train_classifier(None, None, None, None, params, seed=7, live_dir=live_dir)
    return seen


def test_one_process_trains_with_the_arguments_it_had_before_ddp(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    params = TrainParams(epochs=4, batch_size=24, warmup_ratio=0.2)
    seen = _training_arguments(monkeypatch, params)
    assert seen.pop("output_dir")  # a fresh temporary directory every run
    # A frozen copy of the call before DDP support: the committed results were trained with exactly these.
    assert seen == dict(
        num_train_epochs=4, per_device_train_batch_size=24, per_device_eval_batch_size=48, warmup_ratio=0.2,
        eval_strategy="epoch", save_strategy="epoch", save_only_model=True, save_total_limit=1,
        load_best_model_at_end=True, metric_for_best_model="macro_f1", greater_is_better=True,
        logging_strategy="epoch", report_to=[], seed=7, data_seed=7, remove_unused_columns=False,
        group_by_length=True, fp16=torch.cuda.is_available(), dataloader_num_workers=0, disable_tqdm=False)


def test_under_torchrun_each_rank_takes_its_share_of_the_batch(monkeypatch, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    seen = _training_arguments(monkeypatch, TrainParams(batch_size=32), live_dir=tmp_path / "live")
    assert seen["per_device_train_batch_size"] == 8 and seen["per_device_eval_batch_size"] == 16
    assert seen["accelerator_config"] == {"use_seedable_sampler": False}
    if not torch.cuda.is_available():
        assert seen["use_cpu"] is True and seen["ddp_backend"] == "gloo"


@pytest.mark.parametrize("params, key", [(TeacherParams(batch_size=30), "teacher.batch_size = 30"),
                                         (DistillParams(batch_size=6), "distill.batch_size = 6"),
                                         (TrainParams(batch_size=9), "batch_size (in the student's own section) = 9")])
def test_a_batch_size_that_does_not_split_names_the_param(params, key):
    with pytest.raises(TextslimError, match=r"multiple of 4") as err:
        distributed.per_device_batch_size(params, world=4)
    assert key in str(err.value) and "TEXTSLIM_NPROC" in str(err.value) and "\n" not in str(err.value)
    assert distributed.per_device_batch_size(TeacherParams(batch_size=32), world=4) == 8
    assert distributed.per_device_batch_size(TeacherParams(batch_size=30), world=1) == 30


def test_world_size_rank_and_requested_processes_from_the_environment():
    assert (distributed.world_size({}), distributed.rank({}), distributed.is_main_process({})) == (1, 0, True)
    torchrun = {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}
    assert (distributed.world_size(torchrun), distributed.rank(torchrun)) == (2, 1)
    assert not distributed.is_main_process(torchrun) and distributed.under_torchrun(torchrun)
    assert not distributed.under_torchrun({"TEXTSLIM_NPROC": "2"})
    assert [distributed.requested_processes(e) for e in ({}, {"TEXTSLIM_NPROC": ""}, {"TEXTSLIM_NPROC": " 3 "})] \
        == [1, 1, 3]
    assert distributed.training_arguments(world=1) == {}


@pytest.mark.parametrize("value", ["two", "0", "-1", "1.5"])
def test_a_bad_nproc_is_a_one_line_error_naming_it(monkeypatch, capsys, value):
    monkeypatch.setenv("TEXTSLIM_NPROC", value)
    monkeypatch.setattr("sys.argv", ["stages/finetune_teacher.py"])
    monkeypatch.setattr(os, "execv", lambda *a: pytest.fail("launched"))
    with pytest.raises(SystemExit) as done:
        run_stage(lambda: pytest.fail("ran the stage"), relaunch=distributed.relaunch_under_torchrun)
    err = capsys.readouterr().err.strip()
    assert done.value.code == 2 and err.startswith(f"error: TEXTSLIM_NPROC = {value!r} is not allowed")
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("env, launched", [
    ({"TEXTSLIM_NPROC": "2"}, True),
    ({"TEXTSLIM_NPROC": "1"}, False),
    ({}, False),
    ({"TEXTSLIM_NPROC": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}, False),  # already in it
])
@pytest.mark.parametrize("relaunch", [True, False])  # a training stage passes relaunch_under_torchrun; others don't
def test_a_stage_that_passes_the_relaunch_runs_under_torchrun(monkeypatch, env, launched, relaunch):
    for name in ("TEXTSLIM_NPROC", "WORLD_SIZE", "LOCAL_RANK", "RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    script = "stages/distill_student.py"
    argv = [script, "--params", "params.yaml"]
    monkeypatch.setattr("sys.argv", argv)
    calls, ran = [], []

    def execv(path, command):
        calls.append(command)
        raise SystemExit(0)  # the real one never returns

    monkeypatch.setattr(os, "execv", execv)
    launched = launched and relaunch
    with pytest.raises(SystemExit) if launched else nullcontext():
        run_stage(lambda: ran.append(True), relaunch=distributed.relaunch_under_torchrun if relaunch else None)
    assert calls == ([distributed.torchrun_command(2, argv)] if launched else [])
    assert ran == ([] if launched else [True])
    if launched:
        assert calls[0][1:7] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", script]


def test_the_training_stages_alone_relaunch():
    """Which stage scripts use relaunch_under_torchrun (passed to run_stage, or called once the params say there is
    training to share): the two that train, no other."""
    using = set()
    for script in sorted((REPO / "stages").glob("*.py")):
        for node in ast.walk(ast.parse(script.read_text())):
            if isinstance(node, ast.Name) and node.id == "relaunch_under_torchrun":
                using.add(script.stem)
    assert using == {"finetune_teacher", "distill_student"}


class _PastTheLaunch(Exception):
    """Raised where the stage would start reading data: the launch decision is behind it."""


@pytest.mark.parametrize("recipe, finetune, launched", [
    ("finetune", "true", True), ("setfit", "true", False), ("finetune", "false", False)])
def test_the_teacher_stage_relaunches_only_when_there_is_training_to_share(monkeypatch, tmp_path, caplog, recipe,
                                                                          finetune, launched):
    import runpy

    import yaml

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["teacher"].update(recipe=recipe, finetune=finetune == "true")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    for name in ("WORLD_SIZE", "LOCAL_RANK", "RANK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TEXTSLIM_NPROC", "2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("sys.argv", ["stages/finetune_teacher.py", "--params", str(tmp_path / "params.yaml"),
                                     *[x for flag in ("--data", "--model-out", "--logits-out", "--metrics-out",
                                                      "--live-dir") for x in (flag, str(tmp_path / "x"))]])
    calls = []

    def execv(path, command):
        calls.append(command)
        raise _PastTheLaunch

    def read_prepared(*args):
        raise _PastTheLaunch

    monkeypatch.setattr(os, "execv", execv)
    monkeypatch.setattr("textslim.data.read_prepared", read_prepared)
    with caplog.at_level("INFO"), pytest.raises(_PastTheLaunch):
        runpy.run_path(str(REPO / "stages/finetune_teacher.py"), run_name="__main__")
    assert bool(calls) == launched
    assert ("TEXTSLIM_NPROC = 2 left unused" in caplog.text) == (not launched)


def test_one_process_work_under_a_multi_process_torchrun_is_a_one_line_error():
    with pytest.raises(TextslimError, match="^teacher.recipe setfit runs in one process: run this stage without"):
        distributed.one_process_only("teacher.recipe setfit", {"WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    distributed.one_process_only("teacher.recipe setfit", {"WORLD_SIZE": "1", "LOCAL_RANK": "0"})  # one: fine


def test_more_processes_than_gpus_is_an_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(os, "execv", lambda *a: pytest.fail("launched"))
    with pytest.raises(TextslimError, match="TEXTSLIM_NPROC = 4, but 2 GPUs are visible"):
        distributed.relaunch_under_torchrun(["stages/finetune_teacher.py"], {"TEXTSLIM_NPROC": "4"})
