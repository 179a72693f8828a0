"""The FastAPI app: loads the last pipeline run's models once and serves /predict, /models, /health and the page."""

from __future__ import annotations

import json
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from textslim.errors import TextslimError
from textslim.serve.batching import MAX_WAIT_MS, MicroBatcher
from textslim.serve.runtimes import OnnxRuntime, Runtime, TorchRuntime

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
# The only files the server hands out: URL path -> (location, media type). Nothing a client sends picks a path.
STATIC_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}
PLOT_FILES = {
    "/plots/accuracy_vs_latency.png": "plots/accuracy_vs_latency.png",
    "/plots/size.png": "plots/size.png",
}
FIGURES = ("accuracy", "macro_f1", "size_mb", "batch1_ms_median", "texts_per_s", "params")
# The page is self-contained; the browser enforces it too.
PAGE_CSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
TEACHER = ("teacher", "pytorch-fp32")
SERVED_STUDENT_FORM = "onnx-int8"


class PredictRequest(BaseModel):
    """Body of POST /predict."""

    model_config = ConfigDict(extra="forbid")
    texts: list[StrictStr] = Field(description="Texts to classify, in one batch.")
    model: StrictStr | None = Field(
        default=None, description="A model name from GET /models; left out: the summary's best INT8 student.")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is no thread count


def _inside_root(root: Path, rel: Any, what: str) -> Path:
    """root/rel, refusing anything in summary.json that would leave root (absolute paths, '..')."""
    if not isinstance(rel, str) or not rel.strip():
        raise TextslimError(f"summary: {what} must be a non-empty relative path, got {rel!r}")
    posix = PurePosixPath(rel.replace("\\", "/"))  # a Windows-style "..\\x" is just as much an escape
    # Lexical check on purpose: summary.json is data and may not point out of the repo, while symlinks the
    # repo itself holds (e.g. a DVC symlink cache) are the owner's choice.
    if posix.is_absolute() or ".." in posix.parts or ":" in rel:
        raise TextslimError(f"summary: {what} {rel!r} escapes the repository root")
    return root.joinpath(*posix.parts)


def load_summary(summary_path: Path) -> dict[str, Any]:
    """Read and sanity-check metrics/summary.json."""
    if not summary_path.is_file():
        raise TextslimError(f"no pipeline results at {summary_path}: run `make repro` first")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise TextslimError(f"cannot read {summary_path}: {err}") from err
    if not isinstance(summary, dict) or not isinstance(summary.get("variants"), list):
        raise TextslimError(f"{summary_path}: expected an object with a 'variants' list")
    threads = summary.get("threads", 1)
    if not (_is_int(threads) and 1 <= threads <= 256):
        raise TextslimError(f"{summary_path}: 'threads' must be an integer in 1..256, got {threads!r}")
    return summary


def load_runtimes(summary: dict[str, Any], root: Path) -> dict[str, Runtime]:
    """The teacher (PyTorch) and every onnx-int8 student, each loaded once (create_app warms them up)."""
    labels = [str(x) for x in summary.get("labels") or []]
    threads = summary.get("threads", 1)
    runtimes: dict[str, Runtime] = {}
    for i, variant in enumerate(summary["variants"]):
        if not isinstance(variant, dict) or not isinstance(variant.get("name"), str):
            raise TextslimError(f"summary: variant #{i} has no name")
        name = variant["name"]
        # Every path is checked, loaded or not: a summary pointing outside the repo is refused as a whole.
        model_dir = _inside_root(root, variant.get("path"), f"variant {name!r} path")
        model_file = variant.get("model_file")
        if not isinstance(model_file, str) or len(PurePosixPath(model_file).parts) != 1 or model_file in ("..", "."):
            raise TextslimError(f"summary: variant {name!r} model_file must be a plain file name, got {model_file!r}")
        form = variant.get("form")
        if (name, form) != TEACHER and form != SERVED_STUDENT_FORM:
            continue
        if name in runtimes:
            raise TextslimError(f"summary: variant name {name!r} appears twice")
        # Optional: the sequence length the pipeline evaluated with; without it, the model's own limit.
        max_length = variant.get("max_length")
        if max_length is not None and not (_is_int(max_length) and max_length >= 2):
            raise TextslimError(f"summary: variant {name!r} max_length must be an integer >= 2, got {max_length!r}")
        log.info("loading %s (%s) from %s", name, form, model_dir)
        if form == SERVED_STUDENT_FORM:
            runtime: Runtime = OnnxRuntime(name, model_dir, model_dir / model_file, form, threads, labels, max_length)
        else:
            runtime = TorchRuntime(name, model_dir, form, threads, labels, max_length)
        runtimes[name] = runtime
    if not runtimes:
        raise TextslimError("summary: no teacher and no onnx-int8 variant to serve")
    return runtimes


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": message})


def _describe(errors: list[dict[str, Any]]) -> str:
    """One readable line from pydantic's error list, e.g. "texts.2: Input should be a valid string"."""
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
        parts.append(f"{loc}: {err.get('msg', 'invalid')}" if loc else f"body: {err.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    if any(tuple(err.get("loc", ())) == ("body",) for err in errors):
        # The body as a whole is wrong (missing, a list, sent as text/plain): show the shape we want.
        more += '; expected a JSON object {"texts": ["..."], "model": "..."} sent as application/json'
    return "; ".join(parts) + more


class BodyLimit:
    """Refuse request bodies above max_bytes before they are buffered, so a huge upload cannot exhaust memory."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        """Wrap app."""
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check Content-Length up front and count chunked bodies as they arrive."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _error(413, f"request body larger than {self.max_bytes} bytes")(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise HTTPException(413, f"request body larger than {self.max_bytes} bytes")
            return message

        await self.app(scope, counted, send)


def create_app(
    summary_path: str | Path = "metrics/summary.json",
    root: str | Path | None = None,
    max_texts: int = 64,
    max_chars: int = 10_000,
    batching: bool = True,
    batch_max_texts: int = 32,
    batch_wait_ms: float = 2.0,
    batch_bucket_texts: int | None = 8,
) -> FastAPI:
    """Build the app: models from summary_path (paths relative to root, default cwd), request limits, batching.

    With batching, concurrent requests for one model share a model call of up to batch_max_texts texts, gathered
    for at most batch_wait_ms; without it every request is a call of its own.
    """
    if max_texts < 1 or max_chars < 1:
        raise TextslimError("max_texts and max_chars must be at least 1")
    if batch_max_texts < 1 or not (math.isfinite(batch_wait_ms) and 0 < batch_wait_ms <= MAX_WAIT_MS):
        raise TextslimError(
            f"batch_max_texts must be at least 1 and batch_wait_ms in (0, {MAX_WAIT_MS:g}], "
            f"got {batch_max_texts} and {batch_wait_ms}"
        )
    root = Path(root) if root is not None else Path.cwd()
    summary = load_summary(Path(summary_path))
    runtimes = load_runtimes(summary, root)
    by_name = {v["name"]: v for v in summary["variants"]}
    default_model = summary.get("best_student") if summary.get("best_student") in runtimes else None

    # One inference thread: the runtimes' own threads already use every core. Requests wait in their model's
    # batcher (in arrival order, holding no threadpool thread, so /health and the page stay responsive under load)
    # and each batch is one job here. Never shut down by the app: an idle worker ends with the process, and an app
    # whose lifespan has ended (a closed TestClient) can still serve again.
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="textslim-inference")
    # Warm up on that same thread: PyTorch's OpenMP pool belongs to the thread that first runs a parallel op, and a
    # second pool (main thread for warm-up, worker for requests) fights the first for the cores. Measured here: the
    # teacher took 17 ms a call from the worker after a main-thread warm-up, 9 ms when the worker did everything.
    for runtime in runtimes.values():
        executor.submit(runtime.warm_up).result()
    # Batching off is the same path with batches of one request and no gathering wait: one queue discipline, one
    # response shape. A request larger than batch_max_texts still runs, alone.
    batch_settings = {
        "enabled": batching,
        "max_texts": batch_max_texts if batching else 1,
        "wait_ms": batch_wait_ms if batching else 0.0,
        "bucket_texts": batch_bucket_texts if batching else None,
    }
    batchers = {
        name: MicroBatcher(runtime, executor, batch_settings["max_texts"], batch_settings["wait_ms"],
                           batch_settings["bucket_texts"])
        for name, runtime in runtimes.items()
    }
    # FastAPI's own /docs and /redoc load their JavaScript from a CDN and stay blank offline; fastapi-offline (pinned)
    # serves the same pages with its bundled copies.
    app = FastAPIOffline(title="textslim", description="Compressed text classifiers, side by side.", version="1")
    app.state.runtimes = runtimes  # for tests and introspection; routes use the closure
    # JSON may escape one character as up to 12 bytes (a \uXXXX surrogate pair); allow that plus the framing.
    app.add_middleware(BodyLimit, max_bytes=max_texts * (max_chars * 12 + 16) + 4096)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = jsonable_encoder(exc.errors())
        bad_json = next((err for err in errors if err.get("type") == "json_invalid"), None)
        if bad_json is not None:
            where = [x for x in bad_json.get("loc", ()) if isinstance(x, int)]
            at = f" at character {where[0]}" if where else ""
            return _error(400, f"malformed JSON body: {bad_json.get('ctx', {}).get('error', 'cannot parse')}{at}")
        return _error(422, f"invalid request: {_describe(errors)}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def crashed(_: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after this response, so uvicorn logs the traceback; the client learns no internals.
        return _error(500, "internal error")

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Liveness and the number of loaded models."""
        return {"status": "ok", "models": len(runtimes)}

    @app.get("/models")
    def models() -> dict[str, Any]:
        """Every loaded model with its figures from the pipeline's summary."""
        return {
            "best_student": summary.get("best_student"),
            "threads": summary.get("threads", 1),
            "limits": {"max_texts": max_texts, "max_chars": max_chars},
            "batching": batch_settings,
            "models": [
                {
                    "name": name,
                    "form": rt.form,
                    "runtime": rt.runtime,
                    "student": by_name[name].get("student"),
                    "labels": rt.labels,
                    "max_length": rt.max_length,
                    **{key: by_name[name].get(key) for key in FIGURES},
                }
                for name, rt in runtimes.items()
            ],
        }

    @app.post("/predict", responses={400: {"description": "Malformed JSON"}, 422: {"description": "Invalid request"}})
    async def predict(body: PredictRequest) -> dict[str, Any]:
        """Classify texts with one model; long texts are truncated to the model's max length.

        Concurrent requests for the same model may share one model call (micro-batching): `batch` says how many texts
        and requests the call held and how long this request waited for it; inference_ms and tokenize_ms are the
        whole call's, inference_ms_per_text that call's time per text. Dynamic INT8 models quantize per call, so
        probabilities can move slightly with the texts a request shares a call with.
        """
        name = body.model if body.model is not None else default_model
        if name is None:
            raise HTTPException(422, f"no model named and the summary names no loaded best student; loaded: "
                                     f"{', '.join(runtimes)}")
        runtime = runtimes.get(name)
        if runtime is None:
            raise HTTPException(422, f"unknown model {name!r}; loaded: {', '.join(runtimes)}")
        texts = body.texts
        if not texts:
            raise HTTPException(422, "texts is empty: send at least one text")
        if len(texts) > max_texts:
            raise HTTPException(422, f"too many texts: {len(texts)} > {max_texts}")
        for i, text in enumerate(texts):
            if len(text) > max_chars:
                raise HTTPException(422, f"texts.{i} is too long: {len(text)} characters > {max_chars}")
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                # JSON allows lone surrogates ("\ud800"); the tokenizer cannot take them.
                raise HTTPException(422, f"texts.{i} is not valid Unicode (lone surrogate)") from None
        answer = await batchers[name].submit(texts)
        result = answer.result
        return {
            "model": runtime.name,
            "form": runtime.form,
            "labels": runtime.labels,
            "predictions": [
                {
                    "label": runtime.labels[int(row.argmax())],
                    "probabilities": dict(zip(runtime.labels, (float(p) for p in row), strict=True)),
                    "n_tokens": n_tokens,
                    "truncated": truncated,
                }
                for row, n_tokens, truncated in zip(result.probs, result.n_tokens, result.truncated, strict=True)
            ],
            "n_texts": len(texts),
            "inference_ms": result.inference_ms,
            "inference_ms_per_text": result.inference_ms / answer.batch_texts,
            "tokenize_ms": result.tokenize_ms,
            "batch": {"texts": answer.batch_texts, "requests": answer.batch_requests, "wait_ms": answer.wait_ms},
        }

    def static_route(url: str, filename: str, media_type: str) -> None:
        def serve() -> FileResponse:
            headers = {"Content-Security-Policy": PAGE_CSP, "X-Content-Type-Options": "nosniff"}
            return FileResponse(STATIC_DIR / filename, media_type=media_type, headers=headers)

        app.add_api_route(url, serve, methods=["GET"], include_in_schema=False)

    def plot_route(url: str, rel: str) -> None:
        path = root / rel

        def serve() -> FileResponse:
            if not path.is_file():
                raise HTTPException(404, f"{rel} not produced yet: run `make repro`")
            return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-cache"})

        app.add_api_route(url, serve, methods=["GET"], include_in_schema=False)

    for url, (filename, media_type) in STATIC_FILES.items():
        static_route(url, filename, media_type)
    for url, rel in PLOT_FILES.items():
        plot_route(url, rel)
    return app
