"""Load a `dvc plots show` page in headless Chromium with every network request blocked, and check that each
vega plot rendered and each image loaded. Saves a screenshot.

    python scripts/check_plots_page.py build/plots/index.html reports/plots-page.png
"""

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def check(page_path: Path, screenshot: Path) -> dict:
    """Counts of vega views rendered, images loaded, and network requests refused."""
    refused: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})

        def route(request_route):
            url = request_route.request.url
            if url.startswith(("file://", "data:", "blob:")):
                request_route.continue_()
            else:
                refused.append(url)
                request_route.abort()

        page.route("**/*", route)
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(page_path.resolve().as_uri())
        page.wait_for_load_state("load")
        page.wait_for_timeout(1500)  # vega renders asynchronously after load
        counts = page.evaluate("""() => ({
            vega_rendered: document.querySelectorAll('.vega-embed svg, .vega-embed canvas').length,
            images: document.images.length,
            images_loaded: [...document.images].filter(i => i.complete && i.naturalWidth > 0).length,
        })""")
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    # Counted in the source: once rendered, vega-embed replaces the <script> that called it.
    expected = page_path.read_text(encoding="utf-8").count("vegaEmbed('#")
    return {"vega_expected": expected, **counts, "refused_requests": refused, "page_errors": errors}


def main() -> None:
    result = check(Path(sys.argv[1]), Path(sys.argv[2] if len(sys.argv) > 2 else "build/plots-page.png"))
    print(result)
    ok = (result["vega_expected"] > 0 and result["vega_rendered"] >= result["vega_expected"]
          and result["images_loaded"] == result["images"]
          and not result["refused_requests"] and not result["page_errors"] and result["images"] > 0)
    print("offline page: OK" if ok else "offline page: FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
