"""The server and the evaluate stage run one inference stack: for the PyTorch, ONNX fp32 and ONNX INT8 forms of a tiny
model, the probabilities served for 64 texts (batching off, one request) equal those computed the evaluate stage's way
(textslim.inference.load, then batched_logits) within 1e-6."""

import numpy as np
from fastapi.testclient import TestClient

from tests.serve.conftest import WORDS
from textslim.forms import ONNX_FP32, ONNX_INT8, TEACHER
from textslim.inference import batched_logits, load
from textslim.serve.app import create_app

SERVED = {"teacher": (TEACHER, "models/teacher"), "tiny-fp32": (ONNX_FP32, "models/onnx/tiny"),
          "tiny-int8": (ONNX_INT8, "models/quantized/tiny")}


def _texts(n: int) -> list[str]:
    """n texts of 3 to 60 words, some longer than the model's 48 tokens (cut the same way on both sides)."""
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(3, 60)))) for _ in range(n)]


def test_served_probabilities_equal_the_evaluate_stages(tiny_root):
    texts = _texts(64)
    app = create_app(tiny_root / "metrics" / "summary.json", root=tiny_root, max_texts=64, batching=False,
                     forms=[form.name for form, _ in SERVED.values()])
    with TestClient(app) as client:
        served_models = {m["name"]: m for m in client.get("/models").json()["models"]}
        for name, (form, folder) in SERVED.items():
            answer = client.post("/predict", json={"texts": texts, "model": name}).json()
            assert answer["form"] == form.name and answer["batch"]["texts"] == 64
            served = np.array([[p["probabilities"][label] for label in answer["labels"]]
                               for p in answer["predictions"]])
            logits = batched_logits(load(form, tiny_root / folder, served_models[name]["max_length"]), texts, 64)
            z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
            evaluated = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
            assert np.abs(served - evaluated).max() < 1e-6, name
            assert any(p["truncated"] for p in answer["predictions"])  # the long texts were cut, on both sides
