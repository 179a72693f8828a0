"""Threads per batch size (issue 23 part 4): a one-text call runs on a session at the thread count compare timed
fastest at batch 1 for that model, batches on the main count; the answers are the same either way."""

import numpy as np
import pytest

from tests.serve.conftest import _variant
from tests.tiny import sentences
from textslim.forms import ONNX_INT8, TEACHER
from textslim.serve import models
from textslim.serve.models import ServedModel, batch1_threads, load_models


def _timed(**ms_by_threads: float) -> dict:
    return {f"batch1_ms_threads{n.removeprefix('t')}": ms for n, ms in ms_by_threads.items()}


@pytest.mark.parametrize(("timed", "threads", "expected"), [
    (_timed(t1=0.90, t2=1.00), 2, 1),  # one thread 10% faster: a session of its own
    (_timed(t1=0.97, t2=1.00), 2, 2),  # 3% is noise here: no second session
    (_timed(t1=1.20, t2=1.00), 2, 2),
    (_timed(t1=2.00, t2=1.00, t4=0.80), 2, 4),
    (_timed(t1=0.50), 2, 2),  # the main count was not timed: nothing to compare against
    ({}, 2, 2),  # a summary from before the thread table
    ({"batch1_ms_threads1": None, "batch1_ms_threads2": 1.0, "batch1_ms_threadsX": 0.1}, 2, 2),
])
def test_the_batch1_thread_count_is_the_fastest_timed_beyond_the_noise(timed, threads, expected, monkeypatch):
    monkeypatch.setattr(models.os, "cpu_count", lambda: 8)
    assert batch1_threads(timed, threads) == expected


def test_a_count_this_machine_lacks_is_never_asked_for(monkeypatch):
    monkeypatch.setattr(models.os, "cpu_count", lambda: 2)  # the summary came from a bigger machine
    assert batch1_threads(_timed(t1=2.00, t2=1.00, t4=0.80), 2) == 2


def _intra_op(classifier) -> int:
    return classifier.session.get_session_options().intra_op_num_threads


def test_one_text_runs_on_its_own_session_with_the_same_answers(tiny_root):
    folder = tiny_root / "models" / "quantized" / "tiny"
    model = ServedModel("tiny-int8", ONNX_INT8, folder, 2, ["neg", "pos"], 16, batch1_threads=1)
    assert model.threads == {"batched": 2, "batch1": 1}
    assert _intra_op(model.single) == 1 and _intra_op(model.classifier) == 2
    assert model.single.max_length == model.classifier.max_length == 16
    texts = sentences(6, seed=3)["text"].tolist()
    for text in texts:
        alone = model.predict([text])  # the batch-1 session
        np.testing.assert_allclose(alone.probs, model.classifier.classify([text]).probabilities(), atol=1e-6)
    batched = model.predict(texts)
    assert batched.probs.shape == (6, 2)


def test_the_same_count_and_pytorch_keep_one_session(tiny_root):
    folder = tiny_root / "models" / "quantized" / "tiny"
    same = ServedModel("tiny-int8", ONNX_INT8, folder, 2, ["neg", "pos"], None, batch1_threads=2)
    assert same.single is same.classifier
    # PyTorch's thread count is process-wide: one model cannot hold two
    teacher = ServedModel("teacher", TEACHER, tiny_root / "models" / "teacher", 1, ["neg", "pos"], None,
                          batch1_threads=2)
    assert teacher.single is teacher.classifier and teacher.threads == {"batched": 1, "batch1": 1}


def test_the_server_takes_each_models_count_from_the_summary(tiny_root):
    variants = [{**_variant("tiny-int8", "tiny", "onnx-int8", 0.83, 0.1, 0.5), **_timed(t1=0.4, t2=0.5)},
                {**_variant("twin-int8", "twin", "onnx-int8", 0.82, 0.1, 0.5), **_timed(t1=0.6, t2=0.5)}]
    runtimes = load_models({"threads": 2, "labels": ["neg", "pos"], "variants": variants}, tiny_root / "models")
    assert runtimes["tiny-int8"].threads == {"batched": 2, "batch1": 1}
    assert runtimes["twin-int8"].threads == {"batched": 2, "batch1": 2}
    assert _intra_op(runtimes["tiny-int8"].single) == 1
