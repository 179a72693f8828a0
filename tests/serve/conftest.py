"""Tiny models built on the fly (no downloads): a 2-layer BERT teacher, its ONNX export and INT8 quantization."""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import pytest

WORDS = (
    "the a an this that it is was and but not very so too movie film story plot acting actor actress scene "
    "script music good great fine fun funny smart sharp moving bad awful boring dull long slow weak mess "
    "love hate best worst"
).split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
LABELS = {0: "neg", 1: "pos"}
MAX_LENGTH = 48  # tokenizer limit, below the 64 position embeddings: long texts must be cut here
TOKENIZER_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def _png_1x1() -> bytes:
    """A valid 1x1 grey PNG, written by hand so the fixture needs no imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )


def _variant(
    name: str, student: str | None, form: str, accuracy: float, size_mb: float, ms: float
) -> dict:
    """One summary.json variant with made-up figures (the server finds its folder from its form and student)."""
    runtime = {"pytorch-fp32": "pytorch", "sklearn": "sklearn"}.get(form, "onnxruntime")
    return {
        "name": name,
        "student": student,
        "form": form,
        "runtime": runtime,
        "params": 12345,
        "size_mb": size_mb,
        "batch1_ms_median": ms,
        "batch1_ms_p95": ms * 1.2,
        "texts_per_s": 1000.0 / ms,
        "accuracy": accuracy,
        "macro_f1": accuracy - 0.01,
        "delta_accuracy_vs_teacher": 0.0,
        "speedup_vs_teacher": 1.0,
        "size_ratio_vs_teacher": 1.0,
    }


def build_tiny_models(root: Path) -> None:
    """Write teacher, ONNX fp32 and ONNX int8 dirs under root/models exactly where the pipeline would."""
    import torch
    from optimum.exporters.onnx import main_export
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig
    from transformers import AutoModelForSequenceClassification, BertConfig, BertTokenizerFast

    work = root / "work"
    work.mkdir(parents=True)
    vocab = work / "vocab.txt"
    vocab.write_text("\n".join(SPECIAL + WORDS) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True, model_max_length=MAX_LENGTH)
    config = BertConfig(
        vocab_size=len(SPECIAL) + len(WORDS),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
        # Wider than the default 0.02 init, which gives ~0.5 for every text: outputs must differ from text to text.
        initializer_range=0.2,
        id2label=LABELS,
        label2id={v: k for k, v in LABELS.items()},
    )
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config).eval()
    teacher = root / "models" / "teacher"
    model.save_pretrained(teacher)
    tokenizer.save_pretrained(teacher)

    onnx_dir = root / "models" / "onnx" / "tiny"
    main_export(model_name_or_path=str(teacher), output=onnx_dir, task="text-classification")
    quant_dir = root / "models" / "quantized" / "tiny"
    quantizer = ORTQuantizer.from_pretrained(onnx_dir)
    quantizer.quantize(
        save_dir=quant_dir, quantization_config=AutoQuantizationConfig.avx2(is_static=False, per_channel=False)
    )
    for name in TOKENIZER_FILES:
        if not (quant_dir / name).exists():
            shutil.copy2(onnx_dir / name, quant_dir / name)
    # A second int8 student (same weights): the server must load every onnx-int8 variant, not just the best.
    shutil.copytree(quant_dir, root / "models" / "quantized" / "twin")


def write_summary(root: Path, variants: list[dict] | None = None) -> Path:
    """metrics/summary.json in the pipeline's format; the default lists every form the server must sort out."""
    if variants is None:
        variants = [
            _variant("teacher", None, "pytorch-fp32", 0.85, 0.4, 2.0),
            _variant("tiny-fp32", "tiny", "onnx-fp32", 0.84, 0.4, 1.0),
            _variant("tiny-int8", "tiny", "onnx-int8", 0.83, 0.1, 0.5),
            _variant("twin-int8", "twin", "onnx-int8", 0.82, 0.1, 0.5),
            _variant("tfidf-logreg", None, "sklearn", 0.75, 1.0, 0.1),
        ]
    summary = {"threads": 1, "labels": ["neg", "pos"], "best_student": "tiny-int8", "variants": variants}
    path = root / "metrics" / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repo-like root with models/, metrics/summary.json and plots/, built once per session."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    root = tmp_path_factory.mktemp("serve-root")
    build_tiny_models(root)
    write_summary(root)
    (root / "plots").mkdir()
    for name in ("accuracy_vs_latency.png", "size.png"):
        (root / "plots" / name).write_bytes(_png_1x1())
    return root


@pytest.fixture(scope="session")
def tiny_app(tiny_root: Path):
    """The app built by the factory from the tiny root, with small limits so the limit tests stay cheap."""
    from textslim.serve.app import create_app

    return create_app(tiny_root / "metrics" / "summary.json", root=tiny_root, max_texts=8, max_chars=2000)


@pytest.fixture(scope="session")
def client(tiny_app):
    """A TestClient that does not re-raise server errors, so a 500 shows up as a response like for a real client."""
    from fastapi.testclient import TestClient

    with TestClient(tiny_app, raise_server_exceptions=False) as test_client:
        yield test_client
