"""How smoothly the Review page plays a pool's overlay movie in a browser.

Usage::

    .venv/bin/python bench/bench_playback.py                   # demo pool 14 at 12 frames/s, 10 s
    .venv/bin/python bench/bench_playback.py --fps 24 --seconds 5
    .venv/bin/python bench/bench_playback.py --data /path/with/demo   # an existing demo (copied)

Serves the app (``streamlit run app.py``) on a private copy of the demo experiment and the
shipped demo model, opens Review in headless Chromium (Playwright, Debian's /usr/bin/chromium),
sets the playback rate, presses Play and counts the frames the player draws over ``--seconds``
(its ``data-shown`` counter in the DOM: a frame counts only when drawn, so dropped frames show).
Prints frames/s drawn against the set rate; the target is >= 10 at 12 frames/s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere
from _common import demo_data  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(data: Path, models: Path, port: int, log) -> subprocess.Popen:
    env = dict(os.environ, BLASTO_DATA=str(data), BLASTO_MODELS=str(models), PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 90
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit("streamlit exited before it served the app")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return process
        except OSError:
            time.sleep(0.3)
    raise SystemExit("streamlit did not start within 90 s")


def set_rate(page, fps: int) -> None:
    """Move the sidebar's "Playback (frames/s)" slider to ``fps`` with the keyboard."""
    slider = page.get_by_role("slider", name="Playback (frames/s)")
    slider.focus()
    slider.press("Home")
    for _ in range(fps - 1):
        slider.press("ArrowRight")
    page.locator(".bp-rate").filter(has_text=f"{fps} frames/s").wait_for(timeout=120_000)


def measure(url: str, *, fps: int, seconds: float) -> tuple[float, int, int]:
    """(frames/s drawn, frames drawn, distinct frames seen) while playing for ``seconds``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.locator(".bp-label").filter(has_text="Frame 0 of").wait_for(timeout=300_000)
        set_rate(page, fps)
        page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=120_000)
        player = page.locator(".bp")
        page.get_by_role("button", name="▶ Play").click()
        time.sleep(0.5)  # past the first frame's start
        start_count, start = int(player.get_attribute("data-shown")), time.perf_counter()
        seen = set()
        while time.perf_counter() - start < seconds:
            seen.add(player.get_attribute("data-frame"))
            time.sleep(0.05)
        count, elapsed = int(player.get_attribute("data-shown")), time.perf_counter() - start
        browser.close()
    drawn = count - start_count
    return drawn / elapsed, drawn, len(seen)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fps", type=int, default=12, help="playback rate to set (1-24)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to count")
    parser.add_argument("--pool", type=int, default=14)
    parser.add_argument("--data", type=Path, help="a folder holding the demo experiment (copied, not changed)")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing")
    work = Path(tempfile.mkdtemp(prefix="bench-playback-"))
    try:
        with demo_data(args.data, prefix="bench-playback-demo-") as source:
            data = work / "data"
            # Hard links: instant, and safe (blasto replaces files, never writes in place); the
            # first view adds the pool's prediction cache to the copy only.
            shutil.copytree(source, data, copy_function=os.link)
        models = work / "models"
        shutil.copytree(REPO / "models" / "demo", models / "demo")
        port = free_port()
        with open(work / "streamlit.log", "w") as log:
            server = serve(data, models, port, log)
            try:
                rate, drawn, distinct = measure(f"http://127.0.0.1:{port}/Review?experiment=demo&pool={args.pool}",
                                                fps=args.fps, seconds=args.seconds)
            finally:
                os.killpg(server.pid, 15)
                server.wait(10)
        print(f"playback: {rate:.1f} frames/s drawn at {args.fps} frames/s set "
              f"({drawn} frames in {args.seconds:g} s, {distinct} distinct frames sampled; target >= 10 at 12)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
