"""The explorer in headless Chromium (Debian's ``chromium``, driven by Playwright): the browser
test, the benchmark and the screenshot open it the same way.

    .venv/bin/python -m explainable_salt.figures.explorer_browser EXPLORER.html SCREENSHOT.png

Playwright (the ``test`` extra) is imported only here, and no browser of its own is used.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

from PIL import Image, ImageOps

from explainable_salt.figures.explorer import PIXEL_SIZE

# The system browser: $CHROMIUM_PATH, else Debian's binary, else `chromium` on the PATH (a
# launcher script on Debian).
CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser")
_RENDERED = "() => window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents[0].is_idle"
VIEWPORT = {"width": 1500, "height": 1000}


def chromium_path() -> str | None:
    """The system Chromium's executable, or None when none is installed."""
    if os.environ.get("CHROMIUM_PATH"):
        return os.environ["CHROMIUM_PATH"]
    found = [c for c in CANDIDATES if Path(c).is_file()] or [shutil.which("chromium")]
    return found[0]


@contextmanager
def browser_page(executable: str | None = None):
    """A fresh page of headless system Chromium; ``page.console_errors`` collects the console's
    errors and uncaught exceptions."""
    from playwright.sync_api import sync_playwright

    executable = executable or chromium_path()
    if executable is None:
        raise FileNotFoundError("no system Chromium: apt-get install chromium (or set CHROMIUM_PATH)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.console_errors = []
            page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
            page.on("pageerror", lambda e: page.console_errors.append(str(e)))
            yield page
        finally:
            browser.close()


def open_explorer(page, path: Path, timeout_s: float = 60.0) -> float:
    """Loads the explorer file; returns the seconds until its plots are rendered (the Bokeh
    document idle, every plot drawn) and the pixel numbers filled in."""
    start = time.perf_counter()
    page.goto(Path(path).resolve().as_uri())
    page.wait_for_function(_RENDERED, timeout=timeout_s * 1000)
    page.wait_for_selector(".explorer-numbers", timeout=timeout_s * 1000)
    return time.perf_counter() - start


def pixel_position(page, panel: str, row: int, col: int) -> tuple[float, float]:
    """Screen coordinates of the centre of pixel (``row``, ``col``) of a map panel, by its name
    (``probability``, ``expected-value``, ``input-<channel>``, ``phi-<channel>``)."""
    box = page.locator(f".explorer-{panel}").bounding_box()
    return box["x"] + (col + 0.5) * PIXEL_SIZE, box["y"] + (row + 0.5) * PIXEL_SIZE


def screenshot(explorer: Path, out: Path, row: int = 40, col: int = 60) -> None:
    """A PNG of the opened explorer with pixel (``row``, ``col``) of the probability pinned."""
    with browser_page() as page:
        open_explorer(page, explorer)
        page.mouse.click(*pixel_position(page, "probability", row, col))
        page.wait_for_timeout(200)
        png = page.screenshot(full_page=True)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    content = ImageOps.invert(image).getbbox()  # the page without its empty white margin
    out.parent.mkdir(parents=True, exist_ok=True)
    image.crop((0, 0, content[2] + 8, content[3] + 8)).save(out, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("explorer", type=Path, nargs="?", default=Path("data/08_reporting/explorer.html"))
    parser.add_argument("out", type=Path, nargs="?", default=Path("docs/images/explorer.png"))
    args = parser.parse_args()
    screenshot(args.explorer, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
