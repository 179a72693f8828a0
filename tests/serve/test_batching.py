"""Micro-batching: the batcher against a fake runtime, then through the app with the tiny models, and its flags.

No test asserts a duration. Where a batch must fill, the gathering wait is long and the batch fills by count, so
it leaves at once; where a wait must run out, it is short and only the outcome is checked.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from textslim.errors import TextslimError
from textslim.serve.batching import Answer, BatchFailed, MicroBatcher
from textslim.serve.models import BatchResult

from .conftest import write_summary

REPO = Path(__file__).resolve().parents[2]
LONG_WAIT_MS = 60_000.0  # batches in these tests leave by count, never by this clock
SHORT_WAIT_MS = 5.0
GUARD_S = 30.0  # a hung batcher fails the test instead of hanging the suite


class FakeRuntime:
    """Records every call; a text's "probability of pos" is the text itself read as a number, n_tokens its length."""

    def __init__(self, fail: bool = False, gate: threading.Event | None = None) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail
        self.gate = gate  # when set, a call blocks until the gate opens
        self.started = threading.Event()

    def predict(self, texts: list[str]) -> BatchResult:
        self.calls.append(list(texts))
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(GUARD_S)
        if self.fail:
            raise RuntimeError("model exploded")
        pos = np.array([float(t) for t in texts])
        return BatchResult(
            probs=np.stack([1 - pos, pos], axis=1),
            n_tokens=[len(t) for t in texts],
            truncated=[False] * len(texts),
            inference_ms=1.0,
            tokenize_ms=0.5,
        )


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=1)
    yield pool
    pool.shutdown(wait=True)


def run(coro):
    """Run a test coroutine on a fresh loop, bounded so a deadlock fails instead of hanging."""

    async def bounded():
        async with asyncio.timeout(GUARD_S):
            return await coro

    return asyncio.run(bounded())


def _rows(answer: Answer) -> list[float]:
    return [float(p) for p in answer.result.probs[:, 1]]


def _worker(batcher: MicroBatcher) -> asyncio.Task:
    """The running loop's worker task (white-box: the same task before and after proves it never died)."""
    return batcher._lanes[asyncio.get_running_loop()].worker


def test_concurrent_requests_share_one_call_and_each_gets_its_own_rows_in_order(executor) -> None:
    fake = FakeRuntime()
    batcher = MicroBatcher(fake, executor, max_texts=6, max_wait_ms=LONG_WAIT_MS)
    requests = [["0.1", "0.25"], ["0.5"], ["0.75", "0.8", "0.125"]]

    async def main() -> list[Answer]:
        return await asyncio.gather(*(batcher.submit(texts) for texts in requests))

    answers = run(main())
    assert fake.calls == [[t for texts in requests for t in texts]]  # one call, texts in arrival order
    for texts, answer in zip(requests, answers, strict=True):
        assert _rows(answer) == [float(t) for t in texts]
        assert answer.result.n_tokens == [len(t) for t in texts]
        assert answer.result.truncated == [False] * len(texts)
        assert (answer.batch_texts, answer.batch_requests) == (6, 3)
        assert answer.result.inference_ms == 1.0 and answer.wait_ms >= 0


def test_full_batches_leave_and_the_rest_waits_for_the_next(executor) -> None:
    fake = FakeRuntime()
    batcher = MicroBatcher(fake, executor, max_texts=2, max_wait_ms=LONG_WAIT_MS)
    texts = ["0.1", "0.2", "0.3", "0.4"]

    async def main() -> list[Answer]:
        return await asyncio.gather(*(batcher.submit([t]) for t in texts))

    answers = run(main())
    assert fake.calls == [["0.1", "0.2"], ["0.3", "0.4"]]
    assert [_rows(a) for a in answers] == [[0.1], [0.2], [0.3], [0.4]]
    assert all(a.batch_texts == 2 for a in answers)


def test_a_request_larger_than_the_limit_runs_alone_and_whole(executor) -> None:
    fake = FakeRuntime()
    batcher = MicroBatcher(fake, executor, max_texts=2, max_wait_ms=SHORT_WAIT_MS)
    big = ["0.1", "0.2", "0.3", "0.4", "0.5"]

    async def main() -> list[Answer]:
        return await asyncio.gather(batcher.submit(["0.9"]), batcher.submit(big), batcher.submit(["0.7"]))

    before, whole, after = run(main())
    assert ["0.1", "0.2", "0.3", "0.4", "0.5"] in fake.calls  # never split
    assert _rows(whole) == [0.1, 0.2, 0.3, 0.4, 0.5] and whole.batch_texts == 5 and whole.batch_requests == 1
    assert _rows(before) == [0.9] and _rows(after) == [0.7]
    assert sorted(t for call in fake.calls for t in call) == sorted(["0.9", *big, "0.7"])


def test_the_wait_limit_flushes_a_partial_batch(executor) -> None:
    fake = FakeRuntime()
    batcher = MicroBatcher(fake, executor, max_texts=100, max_wait_ms=SHORT_WAIT_MS)
    answer = run(batcher.submit(["0.3"]))
    assert _rows(answer) == [0.3] and (answer.batch_texts, answer.batch_requests) == (1, 1)
    assert fake.calls == [["0.3"]]


def test_an_error_in_the_call_reaches_every_waiter_and_the_worker_goes_on(executor) -> None:
    fake = FakeRuntime(fail=True)
    batcher = MicroBatcher(fake, executor, max_texts=3, max_wait_ms=LONG_WAIT_MS)

    async def main() -> list:
        return await asyncio.gather(*(batcher.submit([t]) for t in ("0.1", "0.2", "0.3")), return_exceptions=True)

    async def both() -> tuple[list, Answer]:
        failures = await main()
        worker = _worker(batcher)
        fake.fail = False
        answers = await asyncio.gather(*(batcher.submit([t]) for t in ("0.4", "0.5", "0.6")))
        assert _worker(batcher) is worker and not worker.done()
        return failures, answers

    failures, answers = run(both())
    assert len(failures) == 3 and all(isinstance(f, BatchFailed) for f in failures)
    assert all(isinstance(f.__cause__, RuntimeError) and "exploded" in str(f.__cause__) for f in failures)
    assert len({id(f) for f in failures}) == 3  # one exception object per waiter
    assert [_rows(a) for a in answers] == [[0.4], [0.5], [0.6]]


def test_rows_that_do_not_match_the_texts_are_an_error_not_a_mix_up(executor) -> None:
    class Short(FakeRuntime):
        def predict(self, texts: list[str]) -> BatchResult:
            result = super().predict(texts)
            return BatchResult(result.probs[:-1], result.n_tokens, result.truncated, 1.0, 0.5)

    batcher = MicroBatcher(Short(), executor, max_texts=1, max_wait_ms=SHORT_WAIT_MS)
    with pytest.raises(BatchFailed):
        run(batcher.submit(["0.1", "0.2"]))


def test_a_client_cancelled_while_queued_is_skipped(executor) -> None:
    fake = FakeRuntime()
    batcher = MicroBatcher(fake, executor, max_texts=3, max_wait_ms=SHORT_WAIT_MS * 4)

    async def main() -> list[Answer]:
        gone = asyncio.create_task(batcher.submit(["0.99"]))
        await asyncio.sleep(0)  # queued, and the worker is gathering
        worker = _worker(batcher)
        gone.cancel()
        answers = await asyncio.gather(batcher.submit(["0.1"]), batcher.submit(["0.2"]))
        assert gone.cancelled()
        assert _worker(batcher) is worker and not worker.done()
        return answers

    answers = run(main())
    assert [_rows(a) for a in answers] == [[0.1], [0.2]]
    assert "0.99" not in [t for call in fake.calls for t in call]


def test_a_client_cancelled_during_the_call_does_not_break_the_worker(executor) -> None:
    gate = threading.Event()
    fake = FakeRuntime(gate=gate)
    batcher = MicroBatcher(fake, executor, max_texts=1, max_wait_ms=SHORT_WAIT_MS)

    async def main() -> Answer:
        gone = asyncio.create_task(batcher.submit(["0.5"]))
        assert await asyncio.to_thread(fake.started.wait, GUARD_S)  # its call is running
        worker = _worker(batcher)
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        gate.set()
        answer = await batcher.submit(["0.25"])
        assert _worker(batcher) is worker and not worker.done()
        return answer

    assert _rows(run(main())) == [0.25]
    assert fake.calls == [["0.5"], ["0.25"]]


def test_one_batcher_serves_one_loop_after_another(executor) -> None:
    # The app outlives event loops: a closed TestClient's, then uvicorn's. Each loop gets its own queue and worker.
    fake = FakeRuntime()
    batcher = MicroBatcher(fake, executor, max_texts=4, max_wait_ms=SHORT_WAIT_MS)
    assert _rows(run(batcher.submit(["0.1"]))) == [0.1]
    assert _rows(run(batcher.submit(["0.2"]))) == [0.2]


def test_batcher_refuses_limits_that_would_never_let_a_batch_leave(executor) -> None:
    for max_texts, wait in ((0, 1.0), (-1, 1.0), (1, -1.0), (1, float("nan")), (1, float("inf"))):
        with pytest.raises(ValueError):
            MicroBatcher(FakeRuntime(), executor, max_texts=max_texts, max_wait_ms=wait)
    with pytest.raises(ValueError):
        run(MicroBatcher(FakeRuntime(), executor, max_texts=1, max_wait_ms=1.0).submit([]))


# Through the app, with the tiny real models.

TEXTS = ["a great fun movie", "boring and too long", "the plot was a mess but the music was good", "dull"]


@pytest.fixture(scope="module")
def gathering_app(tiny_root: Path):
    """Batches of 4 texts and a wait far longer than any test: a batch here leaves because it is full."""
    from textslim.serve.app import create_app

    summary = tiny_root / "metrics" / "summary.json"
    return create_app(summary, root=tiny_root, max_texts=8, max_chars=2000, batch_max_texts=4, batch_wait_ms=1000)


@pytest.fixture(scope="module")
def unbatched_app(tiny_root: Path):
    from textslim.serve.app import create_app

    return create_app(tiny_root / "metrics" / "summary.json", root=tiny_root, max_texts=8, batching=False)


def _post_concurrently(app, payloads: list[dict]) -> list:
    """POST every payload at once to the app, in-process, on a fresh event loop."""
    import httpx

    async def main():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await asyncio.gather(*(client.post("/predict", json=p) for p in payloads))

    return run(main())


def test_the_default_app_batches_and_says_so(client) -> None:
    assert client.get("/models").json()["batching"] == {"enabled": True, "max_texts": 32, "wait_ms": 2.0,
                                                          "bucket_texts": 8}
    body = client.post("/predict", json={"texts": TEXTS[:3], "model": "tiny-int8"}).json()
    # Alone, a request is its own batch: the old fields mean what they meant before.
    assert body["batch"]["texts"] == 3 and body["batch"]["requests"] == 1 and body["batch"]["wait_ms"] >= 0
    assert body["inference_ms_per_text"] == pytest.approx(body["inference_ms"] / 3)


@pytest.mark.parametrize("model", ["teacher", "tiny-int8"])
def test_concurrent_requests_ride_one_call_and_get_their_own_predictions(client, gathering_app, model: str) -> None:
    responses = _post_concurrently(gathering_app, [{"texts": [t], "model": model} for t in TEXTS])
    # fp32 pads under a mask, so sharing a call changes nothing; dynamic INT8 quantizes per call (see test_api).
    tolerance = 1e-5 if model == "teacher" else 0.02
    for text, response in zip(TEXTS, responses, strict=True):
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["batch"]["texts"] == 4 and body["batch"]["requests"] == 4
        assert body["n_texts"] == 1 and len(body["predictions"]) == 1
        assert body["inference_ms_per_text"] == pytest.approx(body["inference_ms"] / 4)
        alone = client.post("/predict", json={"texts": [text], "model": model}).json()["predictions"][0]
        (served,) = body["predictions"]
        assert served["n_tokens"] == alone["n_tokens"]  # the texts differ in length: a mix-up would show here
        for label, prob in alone["probabilities"].items():
            assert served["probabilities"][label] == pytest.approx(prob, abs=tolerance)


def test_a_request_above_the_batch_limit_is_answered_whole(gathering_app) -> None:
    texts = [*TEXTS, "good", "bad"]  # 6 texts > batch limit 4, within the request limit 8
    (response,) = _post_concurrently(gathering_app, [{"texts": texts, "model": "tiny-int8"}])
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["predictions"]) == 6 and body["batch"] == {**body["batch"], "texts": 6, "requests": 1}


def test_a_failed_batch_is_a_500_for_every_request_in_it(gathering_app, monkeypatch) -> None:
    def broken(texts: list[str]) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(gathering_app.state.runtimes["tiny-int8"], "predict", broken)
    responses = _post_concurrently(gathering_app, [{"texts": [t], "model": "tiny-int8"} for t in TEXTS])
    assert [r.status_code for r in responses] == [500] * 4
    assert all(r.json() == {"error": "internal error"} for r in responses)
    monkeypatch.undo()
    responses = _post_concurrently(gathering_app, [{"texts": [t], "model": "tiny-int8"} for t in TEXTS])
    assert [r.status_code for r in responses] == [200] * 4


def test_without_batching_every_request_is_its_own_call(unbatched_app) -> None:
    from fastapi.testclient import TestClient

    with TestClient(unbatched_app) as plain:
        assert plain.get("/models").json()["batching"] == {"enabled": False, "max_texts": 1, "wait_ms": 0.0,
                                                            "bucket_texts": None}
    responses = _post_concurrently(unbatched_app, [{"texts": [t, t], "model": "tiny-int8"} for t in TEXTS])
    for response in responses:
        assert response.status_code == 200, response.text
        assert response.json()["batch"]["texts"] == 2 and response.json()["batch"]["requests"] == 1


# The launcher's flags.

BAD_FLAGS = [
    (["--batch-wait-ms", "0"], "--batch-wait-ms must be in (0, 1000] ms, got 0"),
    (["--batch-wait-ms", "-2"], "--batch-wait-ms must be in (0, 1000] ms, got -2"),
    (["--batch-wait-ms", "nan"], "--batch-wait-ms must be in (0, 1000] ms, got nan"),
    (["--batch-wait-ms", "5000"], "--batch-wait-ms must be in (0, 1000] ms, got 5000"),
    (["--batch-max-texts", "0"], "--batch-max-texts must be at least 1, got 0"),
    (["--batch-max-texts", "-4"], "--batch-max-texts must be at least 1, got -4"),
    (["--no-batching", "--batch-max-texts", "0"], "--batch-max-texts must be at least 1, got 0"),
]


@pytest.mark.parametrize(("flags", "message"), BAD_FLAGS, ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_launcher_refuses_bad_batch_limits(tmp_path: Path, flags: list[str], message: str) -> None:
    from textslim.serve.__main__ import main

    summary = write_summary(tmp_path)  # exists, so the flags are what fails; nothing is loaded
    with pytest.raises(TextslimError) as err:
        main(["--summary", str(summary), *flags])
    assert str(err.value) == message


def test_launcher_bad_batch_limit_exits_2_with_one_line(tmp_path: Path) -> None:
    summary = write_summary(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "textslim.serve", "--summary", str(summary), "--batch-wait-ms", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: --batch-wait-ms must be in (0, 1000] ms, got 0"]


def test_create_app_refuses_bad_batch_limits(tmp_path: Path) -> None:
    from textslim.serve.app import create_app

    summary = write_summary(tmp_path)
    for kwargs in ({"batch_max_texts": 0}, {"batch_wait_ms": 0.0}, {"batch_wait_ms": float("inf")}):
        with pytest.raises(TextslimError, match="batch_max_texts must be at least 1 and batch_wait_ms"):
            create_app(summary, root=tmp_path, **kwargs)


# The load test script (scripts/serve_load.py).


def _load_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("serve_load", REPO / "scripts" / "serve_load.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_agreement_compares_batched_answers_with_the_same_text_alone() -> None:
    load = _load_script()
    off = load.Cell(batching=False, clients=1, answers=[(0, "pos", (0.2, 0.8), 1), (1, "neg", (0.6, 0.4), 1)])
    off_again = load.Cell(batching=False, clients=8, answers=[(0, "pos", (0.2, 0.8), 1), (1, "pos", (0.4, 0.6), 1)])
    batched = [(0, "pos", (0.25, 0.75), 4), (1, "pos", (0.45, 0.55), 4), (1, "neg", (0.6, 0.4), 1)]
    batched.append((7, "pos", (1.0, 0.0), 2))
    on = load.Cell(batching=True, clients=8, answers=batched)
    result = load.agreement([off, off_again, on])
    assert (result.compared, result.differ) == (3, 1)  # text 7 has no batch-off answer: not compared
    assert (result.shared, result.shared_differ) == (2, 1)
    assert result.max_prob_change == pytest.approx(0.15)  # text 1: 0.6 alone, 0.45 in a batch of 4
    assert result.unstable_alone == 1


@pytest.mark.slow  # runs a stage or script in its own Python process
def test_load_script_measures_batching_off_and_on_end_to_end(tiny_root: Path, tmp_path: Path) -> None:
    """Two real servers (subprocesses on loopback) and a handful of requests: the report has every row."""
    load = _load_script()
    report = tmp_path / "serve-load.md"
    argv = ["--summary", str(tiny_root / "metrics" / "summary.json"), "--root", str(tiny_root), "--requests", "8"]
    argv += ["--warmup", "2", "--concurrency", "1,4", "--data", str(tmp_path / "none.parquet")]
    argv += ["--report", str(report)]
    assert load.main(argv) == 0
    text = report.read_text()
    for row in ("| off | 1 | 8 | 0 |", "| off | 4 | 8 | 0 |", "| on | 1 | 8 | 0 |", "| on | 4 | 8 | 0 |"):
        assert row in text
    assert "label differs from the same text's batch-off answer:" in text and "of 16 " in text


def test_bucketed_calls_run_sorted_runs_and_put_every_row_back_in_order(executor) -> None:
    class Recording:
        def __init__(self):
            self.calls = []

        def predict(self, texts):
            from textslim.serve.models import BatchResult

            self.calls.append(list(texts))
            probs = np.array([[len(t), -len(t)] for t in texts], dtype=float)  # a row that names its text
            return BatchResult(probs=probs, n_tokens=[len(t) for t in texts], truncated=[False] * len(texts),
                               inference_ms=1.0, tokenize_ms=0.5)

    runtime = Recording()
    texts = ["x" * n for n in (5, 1, 9, 3, 7, 2, 8)]
    # max_texts = len(texts): the batch leaves by count, not after LONG_WAIT_MS
    batcher = MicroBatcher(runtime, executor, max_texts=len(texts), max_wait_ms=LONG_WAIT_MS, bucket_texts=3)

    async def main():
        return await asyncio.gather(*(batcher.submit([t]) for t in texts))

    answers = asyncio.run(main())
    assert [len(call) for call in runtime.calls] == [3, 3, 1]  # 7 texts gathered, runs of at most 3
    assert [[len(t) for t in call] for call in runtime.calls] == [[1, 2, 3], [5, 7, 8], [9]]  # sorted by length
    for text, answer in zip(texts, answers):
        assert answer.result.probs[0][0] == len(text) and answer.result.n_tokens == [len(text)]
        assert answer.batch_texts == 7 and answer.result.inference_ms == 3.0  # the whole gathered batch's time
