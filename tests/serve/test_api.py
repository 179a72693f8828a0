"""The API against tiny real models: predictions, figures, every kind of bad request, and the launcher."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from textslim.errors import TextslimError

from .conftest import MAX_LENGTH, write_summary

REPO = Path(__file__).resolve().parents[2]
SERVED = ["teacher", "tiny-int8", "twin-int8"]
TEXTS = ["a great fun movie", "boring and too long", "the plot was a mess but the music was good"]


def _assert_alive(client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "models": len(SERVED)}


def test_health(client) -> None:
    _assert_alive(client)


def test_models_lists_teacher_and_every_int8_student_with_figures(client) -> None:
    body = client.get("/models").json()
    assert [m["name"] for m in body["models"]] == SERVED
    assert body["best_student"] == "tiny-int8"
    assert body["limits"] == {"max_texts": 8, "max_chars": 2000}
    for model in body["models"]:
        for key in ("accuracy", "macro_f1", "size_mb", "batch1_ms_median", "texts_per_s", "params", "form"):
            assert model[key] is not None, key
        assert model["labels"] == ["neg", "pos"]
        assert model["max_length"] == MAX_LENGTH
    forms = {m["name"]: m["form"] for m in body["models"]}
    assert forms == {"teacher": "pytorch-fp32", "tiny-int8": "onnx-int8", "twin-int8": "onnx-int8"}


@pytest.mark.parametrize("model", SERVED)
def test_predict_labels_probabilities_and_timing(client, model: str) -> None:
    response = client.post("/predict", json={"texts": TEXTS, "model": model})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == model and body["n_texts"] == len(TEXTS)
    assert len(body["predictions"]) == len(TEXTS)
    for prediction in body["predictions"]:
        probs = prediction["probabilities"]
        assert set(probs) == {"neg", "pos"}
        assert abs(sum(probs.values()) - 1.0) < 1e-5
        assert all(0.0 <= p <= 1.0 for p in probs.values())
        assert prediction["label"] == max(probs, key=probs.get)
        assert prediction["truncated"] is False
    assert body["inference_ms"] > 0
    assert math.isclose(body["inference_ms_per_text"], body["inference_ms"] / len(TEXTS))


def test_without_a_model_the_best_student_answers_and_says_so(client) -> None:
    response = client.post("/predict", json={"texts": TEXTS})
    assert response.status_code == 200, response.text
    named = client.post("/predict", json={"texts": TEXTS, "model": "tiny-int8"}).json()
    assert response.json()["model"] == "tiny-int8"  # the summary's best_student
    assert [p["label"] for p in response.json()["predictions"]] == [p["label"] for p in named["predictions"]]


@pytest.mark.parametrize("model", SERVED)
def test_batch_equals_single_text_predictions(client, model: str) -> None:
    batch = client.post("/predict", json={"texts": TEXTS, "model": model}).json()["predictions"]
    # Padding is masked, so fp32 agrees to float noise. Dynamic INT8 quantizes activations with one scale per
    # tensor, i.e. per batch: a text's neighbours (and their padding) move its probabilities a little.
    tolerance = 1e-5 if model == "teacher" else 0.02
    for text, in_batch in zip(TEXTS, batch, strict=True):
        alone = client.post("/predict", json={"texts": [text], "model": model}).json()["predictions"][0]
        for label, prob in alone["probabilities"].items():
            assert prob == pytest.approx(in_batch["probabilities"][label], abs=tolerance)
        if abs(alone["probabilities"]["pos"] - 0.5) > tolerance:
            assert alone["label"] == in_batch["label"]
        assert alone["n_tokens"] == in_batch["n_tokens"]


def test_probabilities_match_the_models_run_directly(client, tiny_root: Path) -> None:
    """Label names map to the right logits: compare with each model run by hand, outside the server."""
    import numpy as np
    import onnxruntime as ort
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    teacher_dir = tiny_root / "models" / "teacher"
    tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
    encoded = tokenizer(TEXTS, padding=True, return_tensors="np")
    with torch.inference_mode():
        model = AutoModelForSequenceClassification.from_pretrained(teacher_dir).eval()
        teacher = model(**{k: torch.from_numpy(v) for k, v in encoded.items()}).logits.softmax(-1).numpy()
    session = ort.InferenceSession(str(tiny_root / "models/quantized/tiny/model_quantized.onnx"))
    int8 = session.run(["logits"], {k: v.astype(np.int64) for k, v in encoded.items()})[0]
    int8 = np.exp(int8) / np.exp(int8).sum(axis=1, keepdims=True)
    for model_name, expected in (("teacher", teacher), ("tiny-int8", int8)):
        served = client.post("/predict", json={"texts": TEXTS, "model": model_name}).json()["predictions"]
        for row, prediction in zip(expected, served, strict=True):
            assert prediction["probabilities"]["neg"] == pytest.approx(row[0], abs=1e-5)
            assert prediction["probabilities"]["pos"] == pytest.approx(row[1], abs=1e-5)


def test_twin_int8_students_agree(client) -> None:
    a = client.post("/predict", json={"texts": TEXTS, "model": "tiny-int8"}).json()["predictions"]
    b = client.post("/predict", json={"texts": TEXTS, "model": "twin-int8"}).json()["predictions"]
    assert a == [{**p, "probabilities": pytest.approx(p["probabilities"])} for p in b]


def test_long_text_within_char_limit_is_truncated_not_rejected(client) -> None:
    long_text = " ".join(["good movie"] * 500)  # 5499 characters would be > 2000: stay under the limit
    long_text = long_text[:1999]
    for model in SERVED:
        response = client.post("/predict", json={"texts": [long_text, "fun"], "model": model})
        assert response.status_code == 200, response.text
        long_pred, short_pred = response.json()["predictions"]
        assert long_pred["truncated"] is True and long_pred["n_tokens"] == MAX_LENGTH
        assert short_pred["truncated"] is False and short_pred["n_tokens"] < MAX_LENGTH


def test_exactly_max_length_tokens_is_not_reported_as_truncated(client) -> None:
    text = " ".join(["good"] * (MAX_LENGTH - 2))  # + [CLS] and [SEP] = MAX_LENGTH tokens, nothing cut
    prediction = client.post("/predict", json={"texts": [text], "model": "tiny-int8"}).json()["predictions"][0]
    assert prediction["n_tokens"] == MAX_LENGTH and prediction["truncated"] is False


def test_summary_max_length_caps_the_sequence_length(tiny_root: Path, tmp_path: Path) -> None:
    """A variant's max_length (the pipeline's evaluation length) wins over the tokenizer's own limit."""
    from fastapi.testclient import TestClient

    from textslim.serve.app import create_app

    summary = json.loads((tiny_root / "metrics" / "summary.json").read_text())
    for variant in summary["variants"]:
        variant["max_length"] = 16
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    with TestClient(create_app(tmp_path / "summary.json", root=tiny_root)) as short_client:
        assert {m["max_length"] for m in short_client.get("/models").json()["models"]} == {16}
        text = " ".join(["good"] * 20)
        for model in SERVED:
            prediction = short_client.post("/predict", json={"texts": [text], "model": model}).json()["predictions"][0]
            assert prediction["n_tokens"] == 16 and prediction["truncated"] is True


def test_empty_and_unicode_texts_are_fine(client) -> None:
    texts = ["", "   ", "très bien 🎬 映画", "\x00\n\t"]
    response = client.post("/predict", json={"texts": texts, "model": "teacher"})
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == len(texts)


BAD_REQUESTS = {
    "malformed JSON": ('{"texts": ["a", "model": "teacher"', 400, "malformed JSON"),
    "not an object": ('["good"]', 422, "invalid request"),
    "unknown model": ({"texts": ["good"], "model": "gpt-5"}, 422, "unknown model 'gpt-5'"),
    "empty list": ({"texts": [], "model": "teacher"}, 422, "texts is empty"),
    "non-string text": ({"texts": ["good", 3], "model": "teacher"}, 422, "texts.1"),
    "null text": ({"texts": [None], "model": "teacher"}, 422, "texts.0"),
    "texts not a list": ({"texts": "good", "model": "teacher"}, 422, "texts"),
    "too many texts": ({"texts": ["good"] * 9, "model": "teacher"}, 422, "too many texts: 9 > 8"),
    "too many chars": ({"texts": ["ok", "x" * 2001], "model": "teacher"}, 422, "texts.1 is too long"),
    "missing texts": ({"model": "teacher"}, 422, "texts: Field required"),
    "model not a string": ({"texts": ["good"], "model": ["teacher"]}, 422, "model"),
    "unexpected key": ({"texts": ["good"], "model": "teacher", "path": "/etc/passwd"}, 422, "path"),
    "path as model": ({"texts": ["good"], "model": "../../models/teacher"}, 422, "unknown model"),
    "lone surrogate": ('{"texts": ["bad \\ud800 text"], "model": "teacher"}', 422, "lone surrogate"),
}


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=list(BAD_REQUESTS))
def test_bad_requests_get_a_json_4xx_and_the_server_keeps_serving(client, case: str) -> None:
    body, status, message = BAD_REQUESTS[case]
    if isinstance(body, str):
        response = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    else:
        response = client.post("/predict", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert message in response.json()["error"]
    _assert_alive(client)


def test_an_inference_failure_is_a_json_500_and_the_server_keeps_serving(client, monkeypatch) -> None:
    def broken(texts: list[str]) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(client.app.state.runtimes["tiny-int8"], "predict", broken)
    response = client.post("/predict", json={"texts": ["good"], "model": "tiny-int8"})
    assert response.status_code == 500
    assert response.json() == {"error": "internal error"}  # no internals leak to the client
    _assert_alive(client)
    monkeypatch.undo()
    assert client.post("/predict", json={"texts": ["good"], "model": "tiny-int8"}).status_code == 200


def test_oversized_body_is_refused_before_parsing(client) -> None:
    # max_texts=8, max_chars=2000: anything far beyond 8 * 2000 * 12 bytes is refused unread.
    payload = json.dumps({"texts": ["x" * 2000] * 2000, "model": "teacher"})
    response = client.post("/predict", content=payload, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "larger than" in response.json()["error"]

    def chunks():  # no Content-Length: counted as it streams in
        for _ in range(2000):
            yield b"x" * 2000

    response = client.post("/predict", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    _assert_alive(client)


def test_unknown_routes_and_methods_are_json_errors(client) -> None:
    assert client.get("/nope").status_code == 404
    assert "error" in client.get("/nope").json()
    wrong_method = client.get("/predict")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"  # RFC 9110 asks for Allow
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/plots/../metrics/summary.json").status_code == 404
    _assert_alive(client)


def test_the_schema_declares_the_limits_and_models_it_enforces(client) -> None:
    """tiny_app: at most 8 texts of at most 2000 characters, and the models it loaded."""
    schema = client.get("/openapi.json").json()
    body = schema["components"]["schemas"]["PredictRequest"]["properties"]
    assert (body["texts"]["minItems"], body["texts"]["maxItems"], body["texts"]["items"]["maxLength"]) == (1, 8, 2000)
    assert {"enum": ["teacher", "tiny-int8", "twin-int8"], "type": "string"} in body["model"]["anyOf"]


def test_page_assets_and_plots_are_served_without_cdn(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for url in ("/static/app.js", "/static/style.css"):
        asset = client.get(url)
        assert asset.status_code == 200
        assert "http://" not in asset.text and "https://" not in asset.text
    assert "http://" not in page.text and "https://" not in page.text
    for url in ("/plots/accuracy_vs_latency.png", "/plots/size.png"):
        plot = client.get(url)
        assert plot.status_code == 200 and plot.headers["content-type"] == "image/png"
        assert plot.content.startswith(b"\x89PNG")
    assert client.get("/openapi.json").json()["paths"].keys() >= {"/predict", "/models", "/health"}


@pytest.mark.parametrize("student", ["../outside", "/etc", "a/b", "..", "..\\..\\x", "\\etc", "C:/Windows", "", 3])
def test_summary_names_that_would_leave_the_models_root_are_refused(tmp_path: Path, student) -> None:
    from textslim.serve.app import create_app

    summary = write_summary(tmp_path, [{"name": "x-int8", "form": "onnx-int8", "student": student}])
    with pytest.raises(TextslimError, match="variant 'x-int8': student name .* is not a plain name"):
        create_app(summary, root=tmp_path)


def test_a_broken_model_file_is_one_line_naming_the_model(tmp_path: Path, tiny_root: Path) -> None:
    """ONNX Runtime's errors for a truncated graph are no OSError: they still become one TextslimError line."""
    from textslim.serve.app import create_app

    folder = shutil.copytree(tiny_root / "models" / "quantized" / "tiny", tmp_path / "models" / "quantized" / "tiny")
    graph = folder / "model_quantized.onnx"
    graph.write_bytes(graph.read_bytes()[:1000])
    summary = write_summary(tmp_path, [{"name": "tiny-int8", "form": "onnx-int8", "student": "tiny"}])
    with pytest.raises(TextslimError, match="model 'tiny-int8': cannot load onnx-int8 from .*") as failed:
        create_app(summary, root=tmp_path)
    assert "\n" not in str(failed.value)


def test_missing_summary_is_an_error_at_create_app(tmp_path: Path) -> None:
    from textslim.serve.app import create_app

    with pytest.raises(TextslimError, match="no pipeline results at"):
        create_app(tmp_path / "metrics" / "summary.json", root=tmp_path)


def _launch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "textslim.serve", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_launcher_without_summary_exits_2_with_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "metrics" / "summary.json"
    result = _launch("--summary", str(missing), "--port", "0")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: no pipeline results at {missing}: run `make repro` first"]
    assert "Traceback" not in result.stderr + result.stdout


def test_launcher_with_escaping_summary_exits_2_with_one_line(tmp_path: Path) -> None:
    summary = write_summary(tmp_path, [{"name": "x-int8", "form": "onnx-int8", "student": "/etc"}])
    result = _launch("--summary", str(summary), "--root", str(tmp_path))
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: summary: variant 'x-int8': student name '/etc' is not a plain name (letters, digits, "
                      "'_', '-', '.')"]
    assert "Traceback" not in result.stderr


def test_docs_use_the_local_swagger_ui(client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "/static-offline-docs/swagger-ui-bundle.js" in page.text
    assert "cdn.jsdelivr.net" not in page.text
    script = client.get("/static-offline-docs/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    assert client.get("/static-offline-docs/../core.py").status_code == 404


def test_without_a_model_the_deployed_pick_answers_whatever_its_form(tiny_root: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from textslim.serve.app import create_app

    deploy = tmp_path / "deploy.json"
    deploy.write_text(json.dumps({"variant": "tiny-fp32", "form": "onnx-fp32"}))  # not a form served by default
    with TestClient(create_app(tiny_root / "metrics" / "summary.json", root=tiny_root, deploy=deploy)) as client:
        models = client.get("/models").json()
        assert (models["deployed"], models["default_model"]) == ("tiny-fp32", "tiny-fp32")
        assert "tiny-fp32" in [m["name"] for m in models["models"]]
        answer = client.post("/predict", json={"texts": TEXTS})
        assert answer.status_code == 200 and answer.json()["model"] == "tiny-fp32"
    deploy.write_text(json.dumps({"variant": "gone-int8"}))
    with pytest.raises(TextslimError, match="names variant 'gone-int8', which the summary does not have"):
        create_app(tiny_root / "metrics" / "summary.json", root=tiny_root, deploy=deploy)
    # found beside another run's summary rather than named: a warning, and the best student answers
    (tmp_path / "metrics").mkdir()
    shutil.copy(deploy, tmp_path / "metrics" / "deploy.json")
    with TestClient(create_app(tiny_root / "metrics" / "summary.json", root=tmp_path,
                               models=tiny_root / "models")) as client:
        assert client.get("/models").json()["default_model"] == "tiny-int8"
