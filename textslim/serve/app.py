"""The FastAPI app: loads the last pipeline run's models once and serves /predict, /models, /health and the page."""

from __future__ import annotations

import logging
import math
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field, StrictStr, create_model
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from textslim.errors import TextslimError
from textslim.serve.batching import MAX_WAIT_MS, MicroBatcher
from textslim.serve.models import SERVED_FORMS, deployed_variant, load_models, load_summary

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


def predict_request(max_texts: int, max_chars: int, models: list[str]) -> type[BaseModel]:
    """The body of POST /predict, with the server's limits and its models in its schema (OpenAPI shows what is
    enforced)."""
    text = Annotated[StrictStr, Field(max_length=max_chars)]
    return create_model(
        "PredictRequest", __config__=ConfigDict(extra="forbid"),
        texts=(list[text], Field(min_length=1, max_length=max_texts, description="Texts to classify, in one batch.")),
        model=(Literal[tuple(models)] | None, Field(
            default=None, description="A model name from GET /models; left out: the deployed model (the select "
                                        "stage's pick), else the summary's best INT8 student.")),
    )


def _request_message(err: dict[str, Any], models: list[str]) -> str | None:
    """The request limits and model names in the words the API has always used; None for other errors."""
    loc, ctx = tuple(x for x in err.get("loc", ()) if x != "body"), err.get("ctx", {})
    if loc == ("model",) and err.get("type") == "literal_error":
        return f"unknown model {err.get('input')!r}; loaded: {', '.join(models)}"
    if loc == ("texts",) and err.get("type") == "too_short":
        return "texts is empty: send at least one text"
    if loc == ("texts",) and err.get("type") == "too_long":
        return f"too many texts: {ctx.get('actual_length')} > {ctx.get('max_length')}"
    if len(loc) == 2 and loc[0] == "texts" and err.get("type") == "string_unicode":
        return f"texts.{loc[1]} is not valid Unicode (lone surrogate)"  # JSON allows one; no tokenizer does
    if len(loc) == 2 and loc[0] == "texts" and err.get("type") == "string_too_long":
        return f"texts.{loc[1]} is too long: {len(err.get('input', ''))} characters > {ctx.get('max_length')}"
    return None


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": message}, headers=headers)


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
    models: str | Path | None = None,
    max_texts: int = 64,
    max_chars: int = 10_000,
    batching: bool = True,
    batch_max_texts: int = 32,
    batch_wait_ms: float = 2.0,
    batch_bucket_texts: int | None = 8,
    forms: Collection[str] = SERVED_FORMS,
    deploy: str | Path | None = None,
) -> FastAPI:
    """Build the app: the summary_path's models from their folders under `models` (default root/models; root: the
    repository, default cwd, whose plots/ the page shows), request limits, batching.

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
    # A request that names no model gets the select stage's pick (deploy: its metrics/deploy.json, default
    # root/metrics/deploy.json), loaded whatever its form; without one, the summary's best INT8 student.
    deployed = deployed_variant(Path(deploy) if deploy is not None else root / "metrics" / "deploy.json", summary,
                                explicit=deploy is not None)
    runtimes = load_models(summary, Path(models) if models is not None else root / "models", forms,
                           also=[deployed] if deployed else [])
    by_name = {v["name"]: v for v in summary["variants"]}
    default_model = deployed or (summary.get("best_student") if summary.get("best_student") in runtimes else None)

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
        limit = next((message for err in errors if (message := _request_message(err, list(runtimes)))), None)
        return _error(422, limit or f"invalid request: {_describe(errors)}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), exc.headers)  # a 405 keeps its Allow header (RFC 9110)

    @app.exception_handler(Exception)
    async def crashed(_: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after this response, so uvicorn logs the traceback; the client learns no internals.
        return _error(500, "internal error")

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Liveness and the number of loaded models."""
        return {"status": "ok", "models": len(runtimes)}

    @app.get("/models")
    def list_models() -> dict[str, Any]:
        """Every loaded model with its figures from the pipeline's summary."""
        return {
            "best_student": summary.get("best_student"),
            "deployed": deployed,
            "default_model": default_model,
            "threads": summary.get("threads", 1),
            "limits": {"max_texts": max_texts, "max_chars": max_chars},
            "batching": batch_settings,
            "models": [
                {
                    "name": name,
                    "form": rt.form,
                    "runtime": rt.runtime,
                    "threads": rt.threads,
                    "student": by_name[name].get("student"),
                    "labels": rt.labels,
                    "max_length": rt.max_length,
                    **{key: by_name[name].get(key) for key in FIGURES},
                }
                for name, rt in runtimes.items()
            ],
        }

    async def predict(body: Any) -> dict[str, Any]:
        """Classify texts with one model; long texts are truncated to the model's max length.

        Concurrent requests for the same model may share one model call (micro-batching): `batch` says how many texts
        and requests the call held and how long this request waited for it; inference_ms and tokenize_ms are the
        whole call's, inference_ms_per_text that call's time per text. Dynamic INT8 models quantize per call, so
        probabilities can move slightly with the texts a request shares a call with.
        """
        name = body.model if body.model is not None else default_model
        if name is None:
            raise HTTPException(422, f"no model named, and no deployed model or loaded best student; loaded: "
                                     f"{', '.join(runtimes)}")
        runtime = runtimes[name]  # one of them: the request model allows no other
        texts = body.texts  # the request model checked them: 1..max_texts of them, each valid and short enough
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

    # The request model is built from this app's limits, so the annotation is set here, not written in the signature.
    predict.__annotations__["body"] = predict_request(max_texts, max_chars, list(runtimes))
    app.add_api_route("/predict", predict, methods=["POST"],
                      responses={400: {"description": "Malformed JSON"}, 422: {"description": "Invalid request"}})

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
