"""The teacher as the user has it: labels matched by name, the head's rows reordered, a fine-tuned teacher reused as
it is (no training step), and a label set that cannot be matched stopped in one line with nothing written."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from transformers import AutoModelForSequenceClassification

from tests.stages import run_stage_script
from tests.tiny import make_tiny_model, sentences
from textslim.data import write_prepared
from textslim.errors import TextslimError
from textslim.inference import TorchClassifier
from textslim.params import TeacherParams
from textslim.train.teacher import head_order, hub_revision, load_teacher, output_layer

TEXTS = sentences(12)["text"].tolist()


def test_labels_match_by_name_case_insensitively_and_through_the_label_map():
    assert head_order(["POS", "neg"], ["neg", "pos"], {}) == [1, 0]
    assert head_order(["bad", "good"], ["fresh", "rotten"], {"bad": "rotten", "good": "fresh"}) == [1, 0]
    assert head_order(["LABEL_0", "LABEL_1"], ["fresh", "rotten"], {}) == [0, 1]  # placeholders: by index
    assert head_order(["neg", "pos"], ["fresh", "rotten"], {}) is None
    assert head_order(["neg", "neu", "pos"], ["neg", "pos"], {}) is None  # another number of labels
    assert head_order(["pos", "POS"], ["neg", "pos"], {}) is None  # two rows for one name
    assert head_order(["neg", "pos"], ["NEG", "neg"], {}) is None  # two data labels for one row
    with pytest.raises(TextslimError, match=r"^teacher\.label_map: 'good' is not one of the model's labels"):
        head_order(["neg", "pos"], ["neg", "pos"], {"good": "pos"})


def _permuted_copy(source: Path, out: Path, order: list[int]) -> Path:
    """The same classifier with its id2label and its head's rows permuted together: it predicts the same names."""
    model = AutoModelForSequenceClassification.from_pretrained(source)
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    layer = output_layer(model)
    with torch.no_grad():
        layer.weight.copy_(layer.weight[order])
        layer.bias.copy_(layer.bias[order])
    model.config.id2label = {i: names[j] for i, j in enumerate(order)}
    model.config.label2id = {name: i for i, name in model.config.id2label.items()}
    model.save_pretrained(out)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (source / name).exists():
            (out / name).write_bytes((source / name).read_bytes())
    return out


def _three_class_teacher(tmp_path: Path) -> Path:
    from transformers import BertConfig

    source = make_tiny_model(tmp_path / "given", layers=2)
    config = BertConfig.from_pretrained(source, num_labels=3, id2label={0: "neg", 1: "neu", 2: "pos"},
                                        label2id={"neg": 0, "neu": 1, "pos": 2})
    torch.manual_seed(1)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(source)
    return source


def _logits(model, tokenizer) -> np.ndarray:
    with torch.no_grad():
        return model(**tokenizer(TEXTS, padding=True, return_tensors="pt")).logits.numpy()


def test_a_permuted_head_predicts_the_same_after_alignment(tmp_path):
    source = _three_class_teacher(tmp_path)
    permuted = _permuted_copy(source, tmp_path / "permuted", [2, 0, 1])
    assert AutoModelForSequenceClassification.from_pretrained(permuted).config.id2label[0] == "pos"
    data_labels = ["Neg", "neu", "POS"]
    cfg = dict(finetune=False, max_length=32)
    aligned = [load_teacher(TeacherParams(model=str(path), **cfg), data_labels) for path in (source, permuted)]
    first, second = (_logits(*pair) for pair in aligned)
    np.testing.assert_allclose(first, second, atol=1e-6)
    assert aligned[1][0].config.id2label == {0: "Neg", 1: "neu", 2: "POS"}  # the saved config says the data's order


def test_unmatched_labels_are_an_error_when_used_as_is_and_a_fresh_head_when_fine_tuned(tmp_path, caplog):
    source = _three_class_teacher(tmp_path)
    with pytest.raises(TextslimError, match=r"its labels \['neg', 'neu', 'pos'\] do not match the data's labels "
                                            r"\['a', 'b', 'c'\]"):
        load_teacher(TeacherParams(model=str(source), finetune=False), ["a", "b", "c"])
    given = output_layer(AutoModelForSequenceClassification.from_pretrained(source)).weight
    model, _ = load_teacher(TeacherParams(model=str(source)), ["a", "b", "c"])
    assert "fine-tuning starts from a fresh head" in caplog.text
    assert not torch.equal(output_layer(model).weight, given)  # not the old rows under new names
    model, _ = load_teacher(TeacherParams(model=str(source)), ["b", "a"])  # another size: a fresh head too
    assert model.config.num_labels == 2 and model.config.id2label == {0: "b", 1: "a"}


def test_a_bare_encoder_cannot_be_used_as_it_is(tmp_path):
    from transformers import AutoModel

    source = make_tiny_model(tmp_path / "clf", layers=2)
    AutoModel.from_pretrained(source).save_pretrained(tmp_path / "clf")  # architectures: BertModel, no head
    with pytest.raises(TextslimError, match=r"^teacher\.finetune: false needs a fine-tuned classifier"):
        load_teacher(TeacherParams(model=str(source), finetune=False), ["neg", "pos"])


def _stage_inputs(tmp_path: Path, teacher: Path, finetune: bool, labels=("neg", "pos")) -> tuple[Path, list[str]]:
    frame = sentences(60)
    index = {"neg": 0, "pos": 1}
    parts = {name: frame.iloc[i::3].assign(label=frame["label"].iloc[i::3].map(index)).reset_index(drop=True)
             for i, name in enumerate(("train", "validation", "test"))}
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    write_prepared(parts, list(labels), data)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"teacher": {"model": str(teacher), "finetune": finetune, "epochs": 1,
                                                  "batch_size": 8, "max_length": 32}}))
    return data, ["--params", str(params), "--data", str(data)]


def _run_teacher(tmp_path: Path, args: list[str], out: str):
    outs = {key: tmp_path / out / key for key in ("model", "logits", "metrics.json", "live")}
    run = run_stage_script("finetune_teacher", *args, "--model-out", outs["model"], "--logits-out", outs["logits"],
                           "--metrics-out", outs["metrics.json"], "--live-dir", outs["live"])
    return run, outs


def test_a_teacher_reused_as_it_is_gives_the_same_logits_and_trains_nothing(tmp_path, tiny_teacher, monkeypatch):
    _, args = _stage_inputs(tmp_path, tiny_teacher, finetune=True)
    run, trained = _run_teacher(tmp_path, args, "trained")
    assert run.returncode == 0, run.stderr
    _, args = _stage_inputs(tmp_path, trained["model"], finetune=False)
    monkeypatch.setattr("textslim.train.loop.train_classifier", lambda *a, **k: pytest.fail("trained"))
    monkeypatch.setattr("transformers.Trainer.train", lambda *a, **k: pytest.fail("a training step"))
    run, reused = _run_teacher(tmp_path, args, "reused")
    assert run.returncode == 0, run.stderr
    for split in ("train", "validation"):
        np.testing.assert_array_equal(np.load(trained["logits"] / f"{split}.npy"),
                                      np.load(reused["logits"] / f"{split}.npy"))
    before, after = (json.loads(outs["metrics.json"].read_text()) for outs in (trained, reused))
    assert after["test"] == before["test"] and after["finetuned"] is False and after["history"] == []
    assert before["finetuned"] is True and len(before["history"]) == 1
    assert (reused["live"] / "plots/metrics/eval/macro_f1.tsv").read_text() == "step\tmacro_f1\n"
    live = json.loads((reused["live"] / "metrics.json").read_text())
    assert live["no_curves"] == "not fine-tuned here: the model is used as it is"
    assert 0 <= live["eval"]["macro_f1"] <= 1
    reloaded = TorchClassifier(reused["model"], 32)
    np.testing.assert_allclose(reloaded.logits(TEXTS), TorchClassifier(trained["model"], 32).logits(TEXTS), atol=0)


def test_a_label_set_mismatch_is_one_line_exit_2_and_writes_nothing(tmp_path, tiny_teacher):
    _, args = _stage_inputs(tmp_path, tiny_teacher, finetune=False, labels=("fresh", "rotten"))
    run, outs = _run_teacher(tmp_path, args, "out")
    assert run.returncode == 2
    assert run.stderr.strip() == ("error: teacher.model: its labels ['neg', 'pos'] do not match the data's labels "
                                  "['fresh', 'rotten']; name the renames in teacher.label_map "
                                  "{model_label: data_label}")
    assert not (tmp_path / "out").exists()


def test_a_hub_id_in_the_hub_cache_loads_offline_and_its_revision_is_recorded(tmp_path, tiny_teacher, monkeypatch):
    # A hub cache laid out as huggingface_hub writes it: refs/main names the snapshot the files sit in.
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--someone--tiny-classifier"
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    for path in tiny_teacher.iterdir():
        (snapshot / path.name).write_bytes(path.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("transformers.utils.hub.TRANSFORMERS_CACHE", str(tmp_path / "hub"))
    model, _ = load_teacher(TeacherParams(model="someone/tiny-classifier", finetune=False), ["neg", "pos"])
    assert hub_revision(model) == revision
    with pytest.raises(TextslimError, match=r"'someone/other' looks like a hub id, but this machine is offline"):
        load_teacher(TeacherParams(model="someone/other", finetune=False), ["neg", "pos"])
    assert hub_revision(load_teacher(TeacherParams(model=str(tiny_teacher)), ["neg", "pos"])[0]) is None


def test_the_training_curves_say_when_the_teacher_was_not_fine_tuned_here(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from textslim.measure.plots import training_curves

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    epoch = {"epoch": 1.0, "eval_accuracy": 0.8, "eval_loss": 0.5}
    training_curves({"teacher": [], "setfit-teacher": "trained by SetFit", "spread": [epoch]}, tmp_path / "c.png")
    accuracy_axes = figures[0].axes[0]
    assert [t.get_text() for t in accuracy_axes.get_legend().get_texts()] == [
        "teacher: not fine-tuned here", "setfit-teacher: trained by SetFit", "spread"]
    assert [len(line.get_xdata()) for line in accuracy_axes.get_lines()] == [0, 0, 1]  # no curve drawn for them


@pytest.mark.parametrize("teacher", [{"finetune": False}, {"recipe": "setfit"}])
@pytest.mark.parametrize("rank", ["0", "1"])
def test_a_teacher_with_no_training_to_share_refuses_a_multi_process_torchrun(tmp_path, tiny_teacher, monkeypatch,
                                                                             teacher, rank):
    # Nothing for DDP to share: rank 0 would wait for the others in SetFit's process-group setup. One line, exit 2,
    # nothing written, on every rank. (TEXTSLIM_NPROC > 1 never launches it: tests/test_distributed.py.)
    _, args = _stage_inputs(tmp_path, tiny_teacher, finetune=True)
    params = yaml.safe_load(Path(args[1]).read_text())
    params["teacher"].update(teacher)
    Path(args[1]).write_text(yaml.safe_dump(params))
    for name, value in (("RANK", rank), ("LOCAL_RANK", rank), ("WORLD_SIZE", "2")):
        monkeypatch.setenv(name, value)
    run, outs = _run_teacher(tmp_path, args, "out")
    assert run.returncode == 2 and "runs in one process: run this stage without torchrun" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
