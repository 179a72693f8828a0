"""Dynamic micro-batching: concurrent /predict requests for one model share one model call.

A request's texts join the model's queue; the model's worker waits up to `max_wait_ms` after the oldest waiting
request arrived (or until `max_texts` texts are waiting), runs every gathered text in one runtime call on the
inference thread, and hands each request its own rows, in order, with the timings of the call it rode in.

Under load the queue fills while the previous call runs, so the next batch leaves at once; and a lone request on a
quiet server (nothing else queued, the last call unshared) goes at once, so one client pays nothing for the wait.
Dynamic INT8 models quantize activations with one scale per batch, so a text's probabilities (rarely its label) can
depend on the texts it shares a call with.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import math
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the launcher imports this module to check its flags, before numpy and the runtimes load
    from textslim.serve.models import BatchResult

MAX_WAIT_MS = 1000.0  # the longest gathering wait a server accepts: beyond it a typo, not a tuning choice


class Predictor(Protocol):
    """What the batcher needs from a runtime."""

    def predict(self, texts: list[str]) -> BatchResult:
        """Classify texts in one call."""
        ...


class BatchFailed(RuntimeError):
    """The model call a request rode in failed (the original error is the __cause__)."""


@dataclass(frozen=True)
class Answer:
    """One request's share of a batched call."""

    result: BatchResult  # this request's rows only; inference_ms and tokenize_ms are the whole call's
    batch_texts: int  # texts in the call, this request's included
    batch_requests: int  # requests that shared the call
    wait_ms: float  # from submit() until the call started: queueing, gathering, the previous call


@dataclass
class _Request:
    texts: list[str]
    future: asyncio.Future[Answer]
    arrived: float  # time.perf_counter(); the inference thread's timestamps use the same clock


@dataclass
class _Lane:
    """The queue and worker of one event loop (asyncio objects cannot be shared between loops)."""

    pending: collections.deque[_Request] = dataclasses.field(default_factory=collections.deque)
    texts: int = 0  # texts in `pending`, cancelled requests included until they are dropped
    arrived: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    worker: asyncio.Task[None] | None = None
    last_call_requests: int = 0  # requests that shared the last call: the load signal _gather reads


class MicroBatcher:
    """Gathers one model's concurrent requests into batched runtime calls, run on `executor`."""

    def __init__(self, runtime: Predictor, executor: Executor, max_texts: int, max_wait_ms: float,
                 bucket_texts: int | None = None) -> None:
        """max_texts: texts gathered per batch (a larger request still runs, alone and whole); max_wait_ms: gathering
        time; bucket_texts: if set, a batch runs as length-sorted model calls of at most that many texts."""
        if max_texts < 1:
            raise ValueError(f"max_texts must be at least 1, got {max_texts}")
        if not (math.isfinite(max_wait_ms) and max_wait_ms >= 0):
            raise ValueError(f"max_wait_ms must be a finite number >= 0, got {max_wait_ms}")
        self.runtime = runtime  # looked up at every call, so a patched runtime.predict takes effect
        self.executor = executor
        self.max_texts = max_texts
        self.max_wait_s = max_wait_ms / 1000.0
        if bucket_texts is not None and bucket_texts < 1:
            raise ValueError(f"bucket_texts must be at least 1, got {bucket_texts}")
        self.bucket_texts = bucket_texts
        # One lane per event loop: the same app may be served by several loops (a TestClient's and uvicorn's).
        self._lanes: dict[asyncio.AbstractEventLoop, _Lane] = {}

    async def submit(self, texts: list[str]) -> Answer:
        """Queue texts and wait for their share of a batch; raises BatchFailed if the model call failed."""
        if not texts:
            raise ValueError("submit needs at least one text")
        loop = asyncio.get_running_loop()
        lane = self._lane(loop)
        request = _Request(list(texts), loop.create_future(), time.perf_counter())
        lane.pending.append(request)
        lane.texts += len(request.texts)
        lane.arrived.set()
        # A cancelled client cancels this future too; the worker then skips or ignores the request.
        return await request.future

    def _lane(self, loop: asyncio.AbstractEventLoop) -> _Lane:
        lane = self._lanes.get(loop)
        if lane is None:
            for old in list(self._lanes):  # a copy: another thread may be serving the app on its own loop
                if old.is_closed():  # a finished TestClient's loop: nothing there can be answered any more
                    self._lanes.pop(old, None)
            lane = self._lanes[loop] = _Lane()
        if lane.worker is None or lane.worker.done():
            # Started lazily on the serving loop (create_app runs outside any loop), and restarted should it
            # ever have died, so that no request waits on a worker that is gone.
            lane.worker = loop.create_task(self._work(lane), name="textslim-batcher")
        return lane

    async def _work(self, lane: _Lane) -> None:
        batch: list[_Request] = []
        try:
            while True:
                while not lane.pending:
                    lane.arrived.clear()
                    await lane.arrived.wait()
                await self._gather(lane)
                batch = self._take(lane)
                lane.last_call_requests = len(batch)
                if batch:
                    await self._run(batch)
                batch = []
        finally:
            # Only reached when the loop shuts down (task cancelled) or on a bug: fail every waiter, never hang one.
            for request in [*batch, *lane.pending]:
                if not request.future.done():
                    request.future.set_exception(BatchFailed("the batching worker stopped"))

    async def _gather(self, lane: _Lane) -> None:
        """Wait until max_texts are queued or the oldest request has waited max_wait_s, whichever comes first; but
        send a lone request at once when the last call carried a lone request too.

        A server with one client would otherwise add the whole wait to every answer for nothing: no one else is
        coming. Concurrency shows as a second queued request or a shared last call, and then gathering pays.
        """
        if len(lane.pending) == 1 and lane.last_call_requests <= 1:
            return
        deadline = lane.pending[0].arrived + self.max_wait_s
        while lane.texts < self.max_texts:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            lane.arrived.clear()
            try:
                async with asyncio.timeout(remaining):
                    await lane.arrived.wait()
            except TimeoutError:
                return

    def _take(self, lane: _Lane) -> list[_Request]:
        """Whole requests from the front of the queue while they fit in max_texts; always at least one."""
        batch: list[_Request] = []
        n_texts = 0
        while lane.pending:
            request = lane.pending[0]
            if request.future.done():  # its client went away: nothing to compute
                lane.pending.popleft()
                lane.texts -= len(request.texts)
                continue
            # Never split a request: an oversized one rides alone, and the next request opens the next batch.
            if batch and n_texts + len(request.texts) > self.max_texts:
                break
            lane.pending.popleft()
            lane.texts -= len(request.texts)
            batch.append(request)
            n_texts += len(request.texts)
        return batch

    async def _run(self, batch: list[_Request]) -> None:
        """One runtime call for the whole batch on the inference thread; each request gets its rows or the error."""
        texts = [text for request in batch for text in request.texts]
        loop = asyncio.get_running_loop()
        try:
            started, result = await loop.run_in_executor(self.executor, self._call, texts)
            if not len(result.probs) == len(result.n_tokens) == len(result.truncated) == len(texts):
                # Rows that do not line up with texts would hand clients each other's answers: refuse them.
                raise ValueError(f"runtime returned {len(result.probs)} rows for {len(texts)} texts")
        except Exception as err:
            for request in batch:
                if not request.future.done():
                    # One exception per waiter: a shared instance would collect every handler's traceback.
                    failure = BatchFailed(f"batched call of {len(texts)} texts failed: {type(err).__name__}")
                    failure.__cause__ = err
                    request.future.set_exception(failure)
            return
        start = 0
        for request in batch:
            end = start + len(request.texts)
            if not request.future.done():  # a cancelled client's future takes no result
                share = dataclasses.replace(
                    result,
                    probs=result.probs[start:end],
                    n_tokens=result.n_tokens[start:end],
                    truncated=result.truncated[start:end],
                )
                wait_ms = max(0.0, (started - request.arrived) * 1000.0)
                request.future.set_result(Answer(share, len(texts), len(batch), wait_ms))
            start = end

    def _call(self, texts: list[str]) -> tuple[float, BatchResult]:
        # Runs on the inference thread: `started` is when this call got it, so a request's wait_ms includes time
        # spent behind other models' calls too.
        started = time.perf_counter()
        if self.bucket_texts is None or len(texts) <= self.bucket_texts:
            return started, self.runtime.predict(texts)
        return started, self._bucketed(texts)

    def _bucketed(self, texts: list[str]) -> BatchResult:
        """The gathered texts in runs of bucket_texts of similar length, one model call each, rows put back in order.

        A batch of whatever arrived together pads every text to the longest; sorted runs pad far less (the compare
        stage's batches are sorted the same way). Character length stands in for token length.
        """
        import numpy as np

        from textslim.serve.models import BatchResult

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        parts = [order[i:i + self.bucket_texts] for i in range(0, len(order), self.bucket_texts)]
        results = [self.runtime.predict([texts[i] for i in part]) for part in parts]
        position = np.argsort(np.concatenate(parts))  # where each original text's row is in the concatenated results
        n_tokens = [n for result in results for n in result.n_tokens]
        truncated = [t for result in results for t in result.truncated]
        return BatchResult(probs=np.concatenate([r.probs for r in results])[position],
                           n_tokens=[n_tokens[p] for p in position], truncated=[truncated[p] for p in position],
                           inference_ms=sum(r.inference_ms for r in results),
                           tokenize_ms=sum(r.tokenize_ms for r in results))
