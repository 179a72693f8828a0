"""Bounded load test of a running textslim server on loopback: latency percentiles, throughput, a markdown report.

    python scripts/serve_load.py --url http://127.0.0.1:8000 --concurrency 32 --requests 2000 \
        --report reports/serve-load.md
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import ipaddress
import math
import os
import platform
import shlex
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

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


@dataclass
class Tally:
    """What the clients saw."""

    latencies_ms: list[float] = field(default_factory=list)
    server_ms_per_text: list[float] = field(default_factory=list)
    errors: collections.Counter = field(default_factory=collections.Counter)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Flags; every default is bounded."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL (loopback only)")
    parser.add_argument("--model", default=None, help="model name (default: the summary's best_student)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent clients (default: 32)")
    parser.add_argument("--requests", type=int, default=2000, help="total measured requests (default: 2000)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured requests first (default: 20)")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout in seconds (default: 30)")
    parser.add_argument("--data", default="data/prepared/test.parquet", help="texts: a parquet with a 'text' column")
    parser.add_argument("--report", default="reports/serve-load.md", help="markdown report to write")
    args = parser.parse_args(argv)
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        parser.error(f"--concurrency must be in 1..{MAX_CONCURRENCY}")
    if not 1 <= args.requests <= MAX_REQUESTS:
        parser.error(f"--requests must be in 1..{MAX_REQUESTS}")
    if args.warmup < 0 or args.timeout <= 0:
        parser.error("--warmup must be >= 0 and --timeout > 0")
    return args


def require_loopback(url: str) -> None:
    """Refuse any host that is not loopback: this tool must never load someone else's server."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https"):
        _refuse(f"--url must be http(s)://, got {url!r}")
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass  # a host name: not resolved on purpose, DNS could point anywhere
    _refuse(f"refusing non-loopback host {host!r}: load tests run against 127.0.0.1/::1 only")


def _refuse(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


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


async def run_load(
    args: argparse.Namespace, model: str, texts: list[str], total: int, concurrency: int, tally: Tally | None
) -> float:
    """Send `total` single-text requests from `concurrency` clients; return the wall time in seconds."""
    counter = iter(range(total))

    async def worker() -> None:
        # A client per worker: one shared pool of many connections costs the generator more CPU than the server
        # spends per request, which would make the measurement about the load generator.
        async with make_client(args.url, args.timeout) as client:
            await send_all(client)

    async def send_all(client: httpx.AsyncClient) -> None:
        # Each worker takes the next request number until none are left: exactly `total` requests in all.
        for i in counter:
            payload = {"texts": [texts[i % len(texts)]], "model": model}
            started = time.perf_counter()
            error, server_ms = None, 0.0
            try:
                response = await client.post("/predict", json=payload)
                if response.status_code == 200:
                    server_ms = float(response.json()["inference_ms_per_text"])
                else:
                    error = f"HTTP {response.status_code}"
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as err:
                error = type(err).__name__
            elapsed = (time.perf_counter() - started) * 1000.0
            if tally is None:
                continue
            if error:
                tally.errors[error] += 1
            else:
                tally.latencies_ms.append(elapsed)
                tally.server_ms_per_text.append(server_ms)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


def render(args: argparse.Namespace, model: str, source: str, tally: Tally, wall_s: float, info: dict) -> str:
    """The markdown report."""
    ok = len(tally.latencies_ms)
    n_errors = sum(tally.errors.values())
    lat = tally.latencies_ms
    figures = next((m for m in info.get("models", []) if m.get("name") == model), {})
    server_median = statistics.median(tally.server_ms_per_text) if tally.server_ms_per_text else None
    bench = figures.get("batch1_ms_median")  # what the pipeline's compare stage measured, batch 1, alone
    rows = [
        ("requests (ok / errors)", f"{ok} / {n_errors}"),
        ("errors by kind", ", ".join(f"{k}: {v}" for k, v in tally.errors.most_common()) or "none"),
        ("wall time", f"{wall_s:.2f} s"),
        ("throughput", f"{(ok + n_errors) / wall_s:.1f} requests/s" if wall_s > 0 else "n/a"),
        ("latency p50", f"{percentile(lat, 50):.2f} ms"),
        ("latency p90", f"{percentile(lat, 90):.2f} ms"),
        ("latency p99", f"{percentile(lat, 99):.2f} ms"),
        ("latency max", f"{max(lat):.2f} ms" if lat else "n/a"),
        ("server inference per text, median", f"{server_median:.3f} ms" if server_median else "n/a"),
        ("compare stage's batch-1 median for this model", f"{bench:.3f} ms" if bench else "n/a"),
        (
            "server inference / compare-stage latency",
            f"{server_median / bench:.2f}×" if server_median and bench else "n/a",
        ),
    ]
    lines = [
        "# textslim serving load test",
        "",
        f"Command: `{shlex.join(sys.orig_argv)}`",
        "",
        f"- date (UTC): {datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S')}",
        f"- server: {args.url}, model `{model}` ({figures.get('form', '?')}), server threads {info.get('threads')}",
        f"- load: {args.requests} single-text requests after {args.warmup} warm-up, {args.concurrency} concurrent"
        f" clients, timeout {args.timeout:g} s",
        f"- texts: {source}",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "",
        "| measure | value |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in rows),
        "",
        "Latency is the client round trip (queueing, HTTP, JSON, tokenization, inference); the server runs one",
        "inference at a time, so with many clients most of it is queueing. The load generator shares the CPU",
        "with the server, so throughput here is a lower bound for a dedicated machine.",
        "",
    ]
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    """Check the server, warm up, measure, write the report; exit code 1 if any request failed."""
    async with make_client(args.url, args.timeout) as client:
        try:
            health = (await client.get("/health")).json()
            info = (await client.get("/models")).json()
        except (httpx.HTTPError, ValueError) as err:
            print(f"error: no textslim server at {args.url}: {err}", file=sys.stderr)
            return 2
        names = [m["name"] for m in info.get("models", [])]
        model = args.model or info.get("best_student")
        if model not in names:
            print(f"error: model {model!r} is not served; served: {', '.join(names)}", file=sys.stderr)
            return 2
        texts, source = load_texts(Path(args.data), int(info.get("limits", {}).get("max_chars", 10_000)))
        print(
            f"server ok ({health.get('models')} models); {args.requests} requests to {model}, "
            f"{args.concurrency} clients, texts from {source}"
        )
    await run_load(args, model, texts, args.warmup, min(args.concurrency, max(args.warmup, 1)), None)
    tally = Tally()
    wall_s = await run_load(args, model, texts, args.requests, args.concurrency, tally)
    report = render(args, model, source, tally, wall_s, info)
    path = Path(args.report)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report, encoding="utf-8")
    print(report)
    print(f"report written to {path}")
    return 1 if tally.errors else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    require_loopback(args.url)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
