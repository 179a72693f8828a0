"""Launcher: `python -m textslim.serve --port 8000 --host 127.0.0.1 --summary metrics/summary.json`."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import math
import sys
from pathlib import Path

from textslim.cli import run_stage
from textslim.errors import TextslimError
from textslim.serve.batching import MAX_WAIT_MS  # asyncio only: no numpy, no models

log = logging.getLogger("textslim.serve")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags; the defaults serve the last `make repro` run on loopback."""
    parser = argparse.ArgumentParser(prog="python -m textslim.serve", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000)")
    parser.add_argument("--summary", default="metrics/summary.json", help="the pipeline's summary.json")
    parser.add_argument("--deploy", help="the select stage's deploy.json, whose pick answers requests that name no "
                                         "model (default: ROOT/metrics/deploy.json when it exists)")
    parser.add_argument("--root", default=".", help="the repository: its plots/ are shown (default: .)")
    parser.add_argument("--models", help="the models root, laid out as dvc.yaml writes it (default: ROOT/models)")
    parser.add_argument("--max-texts", type=int, default=64, help="most texts per /predict request (default: 64)")
    parser.add_argument("--max-chars", type=int, default=10_000, help="most characters per text (default: 10000)")
    parser.add_argument(
        "--batch-wait-ms",
        type=float,
        default=2.0,
        help="micro-batching: how long a request waits for others to the same model to share its call (default: 2)",
    )
    parser.add_argument(
        "--batch-max-texts",
        type=int,
        default=32,
        help="micro-batching: most texts in one model call; a larger request runs alone, unsplit (default: 32)",
    )
    parser.add_argument(
        "--batch-bucket-texts",
        type=int,
        default=8,
        help="micro-batching: run a gathered batch as length-sorted model calls of at most this many texts, "
        "which pads far less than one call (default: 8; reports/serve-load.md)",
    )
    parser.add_argument(
        "--no-batching", action="store_true", help="turn micro-batching off: one model call per request"
    )
    parser.add_argument("--no-access-log", action="store_true", help="skip uvicorn's per-request log (load tests)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    return parser.parse_args(argv)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_batching(args: argparse.Namespace) -> None:
    """Refuse batch limits that would never let a batch leave (0, negative, NaN) or stall every request."""
    if not (math.isfinite(args.batch_wait_ms) and 0 < args.batch_wait_ms <= MAX_WAIT_MS):
        raise TextslimError(f"--batch-wait-ms must be in (0, {MAX_WAIT_MS:g}] ms, got {args.batch_wait_ms:g}")
    if args.batch_max_texts < 1:
        raise TextslimError(f"--batch-max-texts must be at least 1, got {args.batch_max_texts}")
    if args.batch_bucket_texts is not None and args.batch_bucket_texts < 1:
        raise TextslimError(f"--batch-bucket-texts must be at least 1, got {args.batch_bucket_texts}")


def main(argv: list[str] | None = None) -> None:
    """Check the summary exists and the flags (before the heavy imports), build the app, run uvicorn."""
    args = parse_args(argv)
    summary = Path(args.summary)
    if not summary.is_file():
        raise TextslimError(f"no pipeline results at {args.summary}: run `make repro` first")
    if not 0 < args.port < 65536:
        raise TextslimError(f"--port must be in 1..65535, got {args.port}")
    check_batching(args)
    if not _is_loopback(args.host):
        # Allowed, but said out loud: the API has no authentication.
        log.warning("binding %s: the server is reachable from other machines and has no authentication", args.host)

    import uvicorn

    from textslim.serve.app import create_app

    app = create_app(
        summary,
        root=Path(args.root),
        models=args.models,
        deploy=args.deploy,
        max_texts=args.max_texts,
        max_chars=args.max_chars,
        batching=not args.no_batching,
        batch_max_texts=args.batch_max_texts,
        batch_wait_ms=args.batch_wait_ms,
        batch_bucket_texts=args.batch_bucket_texts,
    )
    if args.no_batching:
        log.info("micro-batching off: one model call per request")
    else:
        log.info("micro-batching: up to %d texts per call, %g ms wait", args.batch_max_texts, args.batch_wait_ms)
    log.info("serving on http://%s:%d/ (docs at /docs)", args.host, args.port)
    # One worker: every model is loaded once in this process and the cores are shared by the runtimes.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        workers=1,
        log_level=args.log_level,
        access_log=not args.no_access_log,
    )


if __name__ == "__main__":
    run_stage(lambda: main(sys.argv[1:]))
