"""Shared fixtures: temporary data/models folders, the demo experiment, the real app in Chromium.

Browser tests start ``streamlit run app.py`` on 127.0.0.1 with a free port and drive it with
Playwright in Debian's chromium (never a downloaded browser).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """A cache folder of the test session's own (blasto.train.number_format keeps its measurement there),
    inherited by the CLI and app processes the tests start."""
    # A session fixture cannot take the function-scoped ``monkeypatch``; its own context
    # restores (or removes) the variable afterwards.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        # Predict in float32: no 15 s precision measurement per session, the same numbers on
        # every machine (tests of "auto" pass a precision or a choice themselves).
        mp.setenv("BLASTO_PREDICT_PRECISION", "float32")
        yield


@pytest.fixture
def roots(tmp_path, monkeypatch):
    """Empty data/ and models/ folders for one test, set in BLASTO_DATA / BLASTO_MODELS."""
    data, models = tmp_path / "data", tmp_path / "models"
    data.mkdir()
    models.mkdir()
    monkeypatch.setenv("BLASTO_DATA", str(data))
    monkeypatch.setenv("BLASTO_MODELS", str(models))
    return data, models


@pytest.fixture(scope="session")
def demo_source(tmp_path_factory):
    """The full demo (plate movie, truth, ready experiment), written once per test session."""
    from blasto.demo import write_demo

    root = tmp_path_factory.mktemp("demo-source")
    write_demo(root)
    return root


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory):
    """An untrained 4-filter U-Net for 32x32 frames, saved in a run folder (made once)."""
    from blasto.model.unet import build_unet

    folder = tmp_path_factory.mktemp("models") / "tiny-run"
    folder.mkdir()
    build_unet(input_size=32, start_filters=4, dropout=False).save(folder / "best.keras")
    return folder / "best.keras"


@pytest.fixture
def tiny_model(tiny_model_file, roots):
    """The tiny model's run folder copied into this test's models/ folder (the only model there)."""
    import shutil

    folder = roots[1] / "tiny-run"
    shutil.copytree(tiny_model_file.parent, folder)
    return folder


@pytest.fixture
def demo_roots(demo_source, roots):
    """``roots`` with a private copy of the demo data (and the shipped demo model, if any)."""
    data, models = roots
    # Hard links: instant, and safe because blasto never writes a file in place (atomic
    # replace gives a new inode), so a test cannot change the session's demo.
    for item in demo_source.iterdir():
        target = data / item.name
        if item.is_dir():
            shutil.copytree(item, target, copy_function=os.link)
        else:
            os.link(item, target)
    shipped = REPO / "models" / "demo"
    if shipped.is_dir():
        shutil.copytree(shipped, models / "demo")
    return data, models


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class App:
    """A running ``streamlit run app.py`` server."""

    def __init__(self, data, models):
        self.data, self.models = Path(data), Path(models)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, BLASTO_DATA=str(data), BLASTO_MODELS=str(models),
                   BLASTO_TEST="1", PYTHONUNBUFFERED="1")
        # The server writes its log straight into the file mkstemp opened: the child gets its
        # own copy of the descriptor, so the parent closes its copy once the child has started
        # (no descriptor left open per app), and output() reads the file by name.
        log_fd, log_name = tempfile.mkstemp(prefix=f"streamlit-{self.port}-", suffix=".log")
        self.log_path = Path(log_name)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"),
                 "--server.address", "127.0.0.1", "--server.port", str(self.port),
                 "--server.headless", "true", "--browser.gatherUsageStats", "false",
                 "--server.fileWatcherType", "none", "--server.runOnSave", "false"],
                cwd=REPO, env=env, stdout=log_fd, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            os.close(log_fd)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited: {self.output()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"streamlit did not start: {self.output()}")

    def output(self) -> str:
        """Everything the server has written so far (stdout and stderr)."""
        return self.log_path.read_text()

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)


@pytest.fixture
def app(demo_roots):
    """The real app serving a private copy of the demo data."""
    server = App(*demo_roots)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run the README's test command (it installs it).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser, request, tmp_path):
    """A fresh browser tab; on failure its screenshot is saved and its path printed."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        shot = tmp_path / "failure.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failing page: {shot}")
        server = request.node.funcargs.get("app")
        if server is not None:
            print("streamlit output (end):\n" + server.output()[-3000:])
    context.close()


def wait_for_app(page, timeout=60_000):
    """Wait until Streamlit has run the script at least once and is not running it now.

    After a click, the rerun may not have begun yet: wait for the expected content too.
    """
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout
    )
