"""The Draw step's stroke round trip in headless Chromium: from releasing the mouse to the
drawing surface showing the mask Python made of the stroke.

Usage::

    .venv/bin/python bench/bench_canvas.py [--strokes 10] [--data /work/main/data]

Serves ``app.py`` on a private copy (hard links) of the demo experiment under ``--data``
(``python -m blasto demo data`` writes it), opens Draw on pool 2, frame 7, draws ``--strokes``
short brush strokes and prints the median and worst round trip. The surface shows each stroke
at once (drawn locally); the figure is the time until Python's mask replaces it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the App server of the browser tests


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strokes", type=int, default=10)
    parser.add_argument("--data", default=str(REPO / "data"))
    args = parser.parse_args(argv)
    import conftest
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        data, models = Path(tmp) / "data", Path(tmp) / "models"
        shutil.copytree(Path(args.data) / "demo", data / "demo", copy_function=os.link)
        models.mkdir()
        app = conftest.App(data, models)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=conftest.CHROMIUM,
                                                     args=conftest.CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{app.url}/Annotate?experiment=demo&step=draw&pool=2&frame=7")
                surface = page.locator('[data-testid="blasto-canvas-surface"]')
                surface.wait_for(timeout=60_000)
                root = page.locator('[data-testid="blasto-canvas"]')
                time.sleep(2)
                page.locator('[data-testid="blasto-canvas"] button[aria-label="Brush"]').click()
                box = surface.bounding_box()
                times = []
                for number in range(args.strokes):
                    before = root.get_attribute("data-ready")
                    y = box["y"] + 40 + 40 * number
                    page.mouse.move(box["x"] + 100, y)
                    page.mouse.down()
                    page.mouse.move(box["x"] + 300, y, steps=10)
                    start = time.perf_counter()
                    page.mouse.up()
                    while root.get_attribute("data-ready") == before:
                        time.sleep(0.005)
                    times.append(time.perf_counter() - start)
                    time.sleep(0.3)
                browser.close()
        finally:
            app.stop()
    print(f"stroke round trip over {len(times)} strokes: median {1000 * statistics.median(times):.0f} ms, "
          f"worst {1000 * max(times):.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
