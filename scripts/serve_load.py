"""Load test of the textslim server with micro-batching off and on: throughput, latency, label agreement.

Starts `python -m textslim.serve` itself on a free loopback port, first with --no-batching, then with batching,
drives each with 1, 8 and 32 concurrent single-text clients, and writes a markdown report:

    python scripts/serve_load.py --summary metrics/summary.json --requests 2000 --report reports/serve-load.md

Batching off answers every text alone (batch 1); those labels are the reference for the answers given under
batching, where dynamic INT8 quantization (one activation scale per call) can move a prediction.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import math
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import httpx

FALLBACK_TEXTS = [
    "A sharp, funny film with a story that never drags.",
    "Two hours of my life I will not get back.",
    "The acting is fine but the script is a mess.",
    "Beautifully shot, gently moving, and quietly brilliant.",
    "It wants to be clever and ends up merely smug.",
    "A crowd-pleaser that earns every laugh.",
    "Dull, slow and far too long.",
    "The best thing about it is the soundtrack.",
]
MAX_CONCURRENCY = 512
MAX_REQUESTS = 1_000_000
HOST = "127.0.0.1"  # the servers this tool starts listen on loopback only


@dataclass
class Cell:
    """What the clients saw for one server configuration at one concurrency."""

    batching: bool
    clients: int
    wall_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    server_ms_per_text: list[float] = field(default_factory=list)
    batch_texts: list[int] = field(default_factory=list)
    errors: collections.Counter = field(default_factory=collections.Counter)
    # (text index, label, probabilities in label order, texts in the call it rode in), one per answered request
    answers: list[tuple[int, str, tuple[float, ...], int]] = field(default_factory=list)


@dataclass
class Agreement:
    """Answers under batching against the same text's batch-off answer."""

    compared: int = 0
    differ: int = 0
    shared: int = 0  # answers whose call held other texts too
    shared_differ: int = 0
    max_prob_change: float = 0.0
    unstable_alone: int = 0  # batch-off answers that disagree with an earlier batch-off answer for the same text


class LoadTestError(Exception):
    """A setup problem (server would not start, wrong model): one line, exit code 2."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Flags; every default is bounded."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--summary", default="metrics/summary.json", help="the pipeline's summary.json to serve")
    parser.add_argument("--root", default=".", help="the repository: models/ and plots/ under it (default: .)")
    parser.add_argument("--model", default=None,
                        help="model name (default: what a request naming none gets: the deploy pick)")
    parser.add_argument("--concurrency", default="1,8,32", help="concurrent clients per row (default: 1,8,32)")
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per row (default: 2000)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured requests before each row (default: 20)")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout in seconds (default: 30)")
    parser.add_argument("--batch-wait-ms", type=float, default=2.0, help="the batching server's --batch-wait-ms")
    parser.add_argument("--batch-max-texts", type=int, default=32, help="the batching server's --batch-max-texts")
    parser.add_argument("--batch-bucket-texts", type=int, default=8,
                        help="the batching server's --batch-bucket-texts")
    parser.add_argument("--startup-timeout", type=float, default=300.0, help="seconds for a server to load models")
    parser.add_argument("--data", default="data/prepared/test.parquet", help="texts: a parquet with a 'text' column")
    parser.add_argument("--report", default="reports/serve-load.md", help="markdown report to write")
    args = parser.parse_args(argv)
    try:
        args.levels = [int(x) for x in args.concurrency.split(",")]
    except ValueError:
        parser.error(f"--concurrency must be comma-separated integers, got {args.concurrency!r}")
    if not args.levels or not all(1 <= n <= MAX_CONCURRENCY for n in args.levels):
        parser.error(f"--concurrency values must be in 1..{MAX_CONCURRENCY}")
    if not 1 <= args.requests <= MAX_REQUESTS:
        parser.error(f"--requests must be in 1..{MAX_REQUESTS}")
    if args.warmup < 0 or args.timeout <= 0 or args.startup_timeout <= 0:
        parser.error("--warmup must be >= 0, --timeout and --startup-timeout > 0")
    if not Path(args.summary).is_file():
        parser.error(f"no pipeline results at {args.summary}: run `make repro` first")
    return args


def _fail(message: str) -> NoReturn:
    raise LoadTestError(message)


def load_texts(path: Path, max_chars: int) -> tuple[list[str], str]:
    """Texts from the prepared test split if it exists, else built-in sentences; cut to the server's char limit."""
    texts: list[str] = []
    source = "built-in sentences"
    if path.is_file():
        import pandas as pd

        column = pd.read_parquet(path, columns=["text"])["text"]
        texts = [str(t)[:max_chars] for t in column if isinstance(t, str) and t.strip()]
        source = f"{path} ({len(texts)} texts)"
    return (texts or FALLBACK_TEXTS), source


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def make_client(url: str, timeout: float) -> httpx.AsyncClient:
    """One keep-alive connection per simulated client."""
    # trust_env=False: no proxy from the environment may redirect loopback traffic elsewhere.
    return httpx.AsyncClient(
        base_url=url,
        timeout=timeout,
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        trust_env=False,
        follow_redirects=False,
    )


def free_port() -> int:
    """A port free on loopback right now (the server binds it a moment later; a clash shows as a failed start)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def served(args: argparse.Namespace, batching: bool) -> Iterator[tuple[str, dict[str, Any]]]:
    """Run one server as a subprocess on loopback until the block ends; yields its URL and its /models."""
    port = free_port()
    command = [
        sys.executable, "-m", "textslim.serve", "--host", HOST, "--port", str(port),
        "--summary", args.summary, "--root", args.root, "--no-access-log", "--log-level", "warning",
        "--batch-wait-ms", str(args.batch_wait_ms), "--batch-max-texts", str(args.batch_max_texts),
    ]  # fmt: skip
    if not batching:
        command.append("--no-batching")
    elif args.batch_bucket_texts:
        command += ["--batch-bucket-texts", str(args.batch_bucket_texts)]
    url = f"http://{HOST}:{port}"
    # The server's log goes to a file, not a pipe nobody reads (a full pipe would stall the server).
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            info = _wait_until_serving(process, url, args.startup_timeout, log)
            if info.get("batching", {}).get("enabled") is not batching:
                _fail(f"the server at {url} reports batching {info.get('batching')!r}, expected enabled={batching}")
            yield url, info
        finally:
            process.terminate()  # uvicorn shuts down cleanly on SIGTERM
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_serving(process: subprocess.Popen, url: str, limit_s: float, log) -> dict[str, Any]:
    deadline = time.monotonic() + limit_s
    with httpx.Client(base_url=url, timeout=5.0, trust_env=False) as client:
        while True:
            if process.poll() is not None:
                log.seek(0)
                tail = " | ".join(log.read().strip().splitlines()[-5:])
                _fail(f"server exited with code {process.returncode} before serving: {tail}")
            try:
                if client.get("/health").status_code == 200:
                    return client.get("/models").json()
            except httpx.HTTPError:
                pass  # still loading models
            if time.monotonic() > deadline:
                _fail(f"server at {url} not serving after {limit_s:g} s")
            time.sleep(0.25)


async def run_load(
    args: argparse.Namespace, url: str, model: str, texts: list[str], total: int, clients: int, cell: Cell | None
) -> float:
    """Send `total` single-text requests from `clients` clients, recorded in cell if given; return the wall time."""
    counter = iter(range(total))

    async def worker() -> None:
        # A client per worker: one shared pool of many connections costs the generator more CPU than the server
        # spends per request, which would make the measurement about the load generator.
        async with make_client(url, args.timeout) as client:
            await send_all(client)

    async def send_all(client: httpx.AsyncClient) -> None:
        # Each worker takes the next request number until none are left: exactly `total` requests in all.
        for i in counter:
            index = i % len(texts)
            payload = {"texts": [texts[index]], "model": model}
            started = time.perf_counter()
            error, answer, server_ms = None, None, 0.0
            try:
                response = await client.post("/predict", json=payload)
                if response.status_code == 200:
                    body = response.json()
                    (prediction,) = body["predictions"]
                    probs = tuple(float(prediction["probabilities"][name]) for name in body["labels"])
                    answer = (index, prediction["label"], probs, int(body["batch"]["texts"]))
                    server_ms = float(body["inference_ms_per_text"])
                else:
                    error = f"HTTP {response.status_code}"
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as err:
                error = type(err).__name__
            elapsed = (time.perf_counter() - started) * 1000.0
            if cell is None:
                continue
            if answer is None:
                cell.errors[error or "no answer"] += 1
            else:
                cell.latencies_ms.append(elapsed)
                cell.server_ms_per_text.append(server_ms)
                cell.batch_texts.append(answer[3])
                cell.answers.append(answer)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return time.perf_counter() - started


def agreement(cells: list[Cell]) -> Agreement:
    """Compare every answer under batching with the batch-off answer for the same text."""
    result = Agreement()
    alone: dict[int, tuple[str, tuple[float, ...]]] = {}
    for cell in cells:
        if cell.batching:
            continue
        for index, label, probs, _ in cell.answers:
            if index not in alone:
                alone[index] = (label, probs)
            elif alone[index][0] != label:
                result.unstable_alone += 1
    for cell in cells:
        if not cell.batching:
            continue
        for index, label, probs, batch_texts in cell.answers:
            if index not in alone:
                continue  # its batch-off request failed: nothing to compare with
            ref_label, ref_probs = alone[index]
            differs = label != ref_label
            result.compared += 1
            result.differ += differs
            if batch_texts > 1:
                result.shared += 1
                result.shared_differ += differs
            change = max(abs(a - b) for a, b in zip(probs, ref_probs, strict=True))
            result.max_prob_change = max(result.max_prob_change, change)
    return result


def _ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def _share(part: int, whole: int) -> str:
    return f"{part} of {whole} ({100 * part / whole:.2f}%)" if whole else f"{part} of 0"


def render(args: argparse.Namespace, model: str, source: str, cells: list[Cell], info: dict) -> str:
    """The markdown report."""
    figures = next((m for m in info.get("models", []) if m.get("name") == model), {})
    bench = figures.get("batch1_ms_median")  # what the pipeline's compare stage measured, batch 1, alone
    rows = []
    for cell in cells:
        ok, n_errors = len(cell.latencies_ms), sum(cell.errors.values())
        kinds = ", ".join(f"{k}: {v}" for k, v in cell.errors.most_common())
        errors = f"{n_errors} ({kinds})" if kinds else "0"
        server = statistics.median(cell.server_ms_per_text) if cell.server_ms_per_text else float("nan")
        mean_batch = statistics.fmean(cell.batch_texts) if cell.batch_texts else float("nan")
        rows.append(
            f"| {'on' if cell.batching else 'off'} | {cell.clients} | {ok} | {errors}"
            f" | {(ok + n_errors) / max(cell.wall_s, 1e-9):.1f} | {_ms(percentile(cell.latencies_ms, 50))}"
            f" | {_ms(percentile(cell.latencies_ms, 99))} | {mean_batch:.1f} | {_ms(server)} |"
        )
    agree = agreement(cells)
    lines = [
        "# textslim serving load test: micro-batching off and on",
        "",
        f"Command: `{shlex.join(sys.orig_argv)}`",
        "",
        f"- date (UTC): {datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S')}",
        f"- server: `python -m textslim.serve` on loopback, started by this script once per configuration;"
        f" model `{model}` ({figures.get('form', '?')}), server threads {info.get('threads')}",
        f"- batching on: up to {args.batch_max_texts} texts per model call, gathered for at most"
        f" {args.batch_wait_ms:g} ms"
        + (f", run as length-sorted calls of at most {args.batch_bucket_texts} texts" if args.batch_bucket_texts
           else "") + "; off: `--no-batching`, one model call per request",
        f"- load: per row {args.requests} single-text requests after {args.warmup} warm-up,"
        f" timeout {args.timeout:g} s",
        f"- texts: {source}",
        f"- compare stage's batch-1 median for this model: {f'{bench:.3f} ms' if bench else 'n/a'}",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "",
        "| batching | clients | ok | errors | throughput (req/s) | latency p50 (ms) | latency p99 (ms)"
        " | texts in the call, mean per request | server inference per text, median (ms) |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Latency is the client round trip (queueing, HTTP, JSON, tokenization, inference). Server inference per",
        "text is the model call's time divided by the texts it held. With batching, a request waits up to the",
        "gathering limit for others to the same model; with one client nobody joins, so it only adds the wait.",
        "The load generator shares the CPU with the server, so throughput here is a lower bound for a dedicated",
        "machine.",
        "",
        "## Batched answers against the same text alone",
        "",
        f"- label differs from the same text's batch-off answer: {_share(agree.differ, agree.compared)} answers"
        " given under batching",
        f"- of those that shared their model call with other texts: {_share(agree.shared_differ, agree.shared)}",
        f"- largest change of a class probability: {agree.max_prob_change:.4f}",
        f"- batch-off answers that disagree with another batch-off answer for the same text: {agree.unstable_alone}"
        " (batch 1 is deterministic: expect 0)",
        "",
        "Dynamic INT8 quantization picks one activation scale per model call, so a text's probabilities move with",
        "the texts it shares a call with; a label flips only when the text sits near the decision boundary.",
        "",
    ]
    return "\n".join(lines)


async def measure(args: argparse.Namespace, url: str, model: str, texts: list[str], batching: bool) -> list[Cell]:
    """Every concurrency level against one running server."""
    cells = []
    for clients in args.levels:
        if args.warmup:
            await run_load(args, url, model, texts, args.warmup, min(clients, args.warmup), None)
        cell = Cell(batching=batching, clients=clients)
        cell.wall_s = await run_load(args, url, model, texts, args.requests, clients, cell)
        print(
            f"batching {'on ' if batching else 'off'} {clients:>3} clients: {len(cell.latencies_ms)} ok, "
            f"{sum(cell.errors.values())} errors, {args.requests / max(cell.wall_s, 1e-9):.1f} req/s, "
            f"p50 {percentile(cell.latencies_ms, 50):.2f} ms",
            flush=True,
        )
        cells.append(cell)
    return cells


def run(args: argparse.Namespace) -> int:
    """Batching off first (its answers are the reference), then on; write the report; exit 1 if a request failed."""
    cells: list[Cell] = []
    model, source, texts, first_info = "", "", [], {}
    for batching in (False, True):
        with served(args, batching) as (url, info):
            names = [m["name"] for m in info.get("models", [])]
            model = args.model or info.get("default_model")
            if model not in names:
                _fail(f"model {model!r} is not served; served: {', '.join(names)}")
            if not texts:
                texts, source = load_texts(Path(args.data), int(info.get("limits", {}).get("max_chars", 10_000)))
                first_info = info
                print(f"{len(args.levels)} rows of {args.requests} requests to {model}, texts from {source}")
            cells += asyncio.run(measure(args, url, model, texts, batching))
    report = render(args, model, source, cells, first_info)
    path = Path(args.report)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report, encoding="utf-8")
    print(report)
    print(f"report written to {path}")
    return 1 if any(cell.errors for cell in cells) else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: setup problems are one line on stderr and exit code 2."""
    args = parse_args(argv)
    try:
        return run(args)
    except LoadTestError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
