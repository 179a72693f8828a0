"""Common encoders as teachers: tiny random DistilBERT, RoBERTa, ELECTRA and DeBERTa-v2 classifiers each go through
the stages as the pipeline runs them (fine-tune, distill a layer-subset student and a LoRA one, prune, export to
ONNX, quantize to INT8), and where structured pruning does not know the encoder, one line names the fallback."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from transformers import AutoModelForSequenceClassification, BertTokenizerFast

from tests.stages import run_stage_script, teacher_and_transfer_set
from tests.tiny import LABELS, sentences, write_vocab
from textslim.forms import ONNX_FP32, ONNX_INT8
from textslim.inference import load

pytestmark = pytest.mark.slow
ENCODERS = ("distilbert", "roberta", "electra", "deberta-v2")


def tiny_encoder(arch: str, out: Path) -> Path:
    """A 4-layer classifier of the given type with hidden size 32 and random weights, and a WordPiece tokenizer
    (the tokenizer's kind does not matter to the stages; its pad id is the config's)."""
    from transformers import AutoConfig

    out.mkdir(parents=True)
    vocab = write_vocab(out / "vocab.txt")
    size = len(vocab.read_text().split())
    shapes = {"distilbert": dict(dim=32, n_layers=4, n_heads=2, hidden_dim=37),
              "electra": dict(embedding_size=16, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                              intermediate_size=37)}
    shape = shapes.get(arch, dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=37))
    config = AutoConfig.for_model(arch, vocab_size=size, max_position_embeddings=80, pad_token_id=0,
                                  id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)},
                                  **shape)
    torch.manual_seed(0)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(out)
    # DistilBERT and RoBERTa take no token_type_ids: their own tokenizers do not return them.
    inputs = ["input_ids", "attention_mask"] if arch in ("distilbert", "roberta") else None
    BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True, model_max_length=64,
                      **({"model_input_names": inputs} if inputs else {})).save_pretrained(out)
    return out


def _params(work: Path, csv: Path, teacher: Path) -> Path:
    params = {"data": {"source": str(csv), "validation_fraction": 0.2, "test_fraction": 0.2},
              "teacher": {"model": str(teacher), "epochs": 1, "max_length": 32, "batch_size": 16,
                          "head_dropout": 0.25},
              "distill": {"students": ["spread", "lora"], "epochs": 1, "max_length": 32, "batch_size": 16},
              "spread": {"num_layers": 2}, "lora": {"base": "spread", "num_layers": 2},
              "prune": {"importance_texts": 32, "recovery_epochs": 1}}
    path = work / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def _stage(name: str, *args) -> None:
    run = run_stage_script(name, *args)
    assert run.returncode == 0, f"{name}: {run.stderr[-2000:]}"


@pytest.fixture(scope="module", params=ENCODERS)
def chain(request, tmp_path_factory, tiny_csv) -> tuple[str, Path]:
    """The stages run on one encoder's tiny teacher: what they wrote, under work/."""
    arch, work = request.param, tmp_path_factory.mktemp(request.param)
    teacher = tiny_encoder(arch, work / "given")
    p = ["--params", _params(work, tiny_csv, teacher)]
    data, logits = work / "data", work / "logits"
    transfer = teacher_and_transfer_set(p[1], work)
    for student in ("spread", "lora"):
        _stage("distill_student", *p, "--strategy", student, "--data", data, "--teacher", work / "teacher",
               "--teacher-logits", logits, *transfer, "--out", work / "students" / student,
               "--live-dir", work / "live" / student)
        _stage("prune", "--variant", "heavy", *p, "--model", work / "students" / student, "--data", data,
               "--teacher-logits", logits, *transfer, "--out", work / "pruned" / student)
        _stage("export_onnx", *p, "--model", work / "pruned" / student, "--data", data,
               "--out", work / "onnx" / student)
        _stage("quantize", *p, "--model", work / "onnx" / student, "--data", data,
               "--out", work / "int8" / student)
    return arch, work


def test_the_teacher_fine_tunes_and_keeps_its_type(chain):
    arch, work = chain
    metrics = json.loads((work / "teacher.json").read_text())
    assert metrics["finetuned"] and len(metrics["history"]) == 1
    # no per-run timings in the history the model folder keeps: a re-run with the same weights writes the same folder
    assert {"eval_macro_f1", "eval_loss", "epoch"} <= set(metrics["history"][0])
    assert not any(key.endswith(("_runtime", "_per_second")) for key in metrics["history"][0])
    config = json.loads((work / "teacher" / "config.json").read_text())
    assert config["model_type"] == arch and config["id2label"] == {"0": "neg", "1": "pos"}
    head_dropout = {"distilbert": "seq_classif_dropout", "deberta-v2": "cls_dropout"}.get(arch, "classifier_dropout")
    assert config[head_dropout] == 0.25  # teacher.head_dropout reached the head this encoder has


@pytest.mark.parametrize("student", ["spread", "lora"])
def test_each_student_distills_prunes_exports_and_quantizes(chain, student):
    arch, work = chain
    config = json.loads((work / "students" / student / "config.json").read_text())
    assert config["model_type"] == arch
    depth = config.get("n_layers", config.get("num_hidden_layers"))
    assert depth == 2  # the two spread layers of the four
    texts = sentences(16, seed=3)["text"].tolist()
    fp32 = load(ONNX_FP32, work / "onnx" / student, max_length=32).classify(texts).logits
    int8 = load(ONNX_INT8, work / "int8" / student, max_length=32).classify(texts).logits
    assert fp32.shape == int8.shape == (16, 2) and np.isfinite(int8).all()
    parity = json.loads((work / "onnx" / student / "parity.json").read_text())
    assert parity["max_abs_diff"] < 1e-4


def test_structured_pruning_names_its_fallback_where_it_does_not_know_the_encoder(chain):
    arch, work = chain
    report = json.loads((work / "pruned" / "spread" / "sparsity.json").read_text())
    assert report["method"] == "unstructured" and report["requested_method"] == "structured"
    assert report["note"] == (f"structured pruning knows bert, mpnet encoders, not {arch}: pruned unstructured "
                              f"(prune.amount) instead; vocabulary trimming knows bert, mpnet tokenizers, not {arch}: "
                              "vocabulary kept whole")
    assert "vocabulary" not in report
