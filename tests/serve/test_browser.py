"""The page in headless chromium against the real app under uvicorn: predictions appear, nothing leaves loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MODELS = ("teacher", "tiny-int8", "twin-int8")
TEXT = "a sharp and funny film with a good story"
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live_url(tiny_app) -> Iterator[str]:
    """The tiny app served by uvicorn in a background thread on a free loopback port."""
    import uvicorn

    # Bind first and hand uvicorn the socket: no window in which another process could take the port.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(tiny_app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _loopback_only(off_host: list[str], routed: list[str]):
    """A playwright route handler: loopback and data: URLs go through, anything else (a CDN, a font, a tracker) is
    recorded in off_host and never let out; every URL is recorded in routed."""

    def guard(route) -> None:
        routed.append(route.request.url)
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith("data:") or host in LOOPBACK:
            route.continue_()
        else:
            off_host.append(route.request.url)
            route.abort()

    return guard


def test_page_shows_every_models_prediction_and_latency(live_url: str, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: the browser test drives Debian's chromium, never a downloaded one")
    from playwright.sync_api import expect, sync_playwright

    # What the API says for the text, asked directly: the page must show exactly these labels.
    expected = {}
    for name in MODELS:
        response = httpx.post(f"{live_url}/predict", json={"texts": [TEXT], "model": name}, trust_env=False)
        expected[name] = response.json()["predictions"][0]["label"]
    off_host: list[str] = []
    routed: list[str] = []
    console_errors: list[str] = []

    guard = _loopback_only(off_host, routed)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", guard)
            page = context.new_page()
            page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: console_errors.append(str(exc)))

            page.goto(live_url + "/", wait_until="networkidle")
            models = page.locator("article.card")
            expect(models).to_have_count(3)
            expect(page.locator("#status")).to_have_text("3 models loaded.")

            page.fill("#text", TEXT)
            page.click("#submit")
            expect(page.locator("#status")).to_have_text("Done.", timeout=30_000)

            for name in MODELS:
                card = page.locator(f'article.card[data-model="{name}"]')
                expect(card.locator("[data-role=label]")).to_have_text(expected[name])
                expect(card.locator(".bar-row")).to_have_count(2)
                expect(card.locator("[data-role=latency]")).to_contain_text(" ms model")
            # Both plots loaded as images (1x1 in the fixture), not replaced by the "not produced yet" note.
            assert page.locator("figure img").count() == 2
            assert page.evaluate("[...document.images].every(img => img.complete && img.naturalWidth > 0)")

            page.screenshot(path=str(tmp_path / "serve-page.png"), full_page=True)
        finally:
            browser.close()

    assert off_host == [], f"the page tried to reach beyond loopback: {off_host}"
    assert f"{live_url}/static/app.js" in routed  # the guard really saw the page's requests
    assert console_errors == []
    assert (tmp_path / "serve-page.png").stat().st_size > 0


def test_docs_page_renders_the_api_offline(live_url: str) -> None:
    """/docs: Swagger UI from the pinned fastapi-offline package, every request on loopback."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: the browser test drives Debian's chromium, never a downloaded one")
    from playwright.sync_api import expect, sync_playwright

    off_host: list[str] = []
    errors: list[str] = []
    guard = _loopback_only(off_host, [])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.route("**/*", guard)
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(live_url + "/docs", wait_until="networkidle")
            # Swagger UI drew the spec it fetched from /openapi.json: the title and every route's block.
            expect(page.locator(".swagger-ui .info .title")).to_contain_text("textslim")  # the spec's title
            for route in ("/predict", "/models", "/health"):
                expect(page.locator(f'.opblock-summary-path[data-path="{route}"]')).to_have_count(1)
        finally:
            browser.close()
    assert off_host == [], f"/docs tried to reach beyond loopback: {off_host}"
    assert errors == []
