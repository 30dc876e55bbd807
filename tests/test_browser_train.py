"""The Train page in real Chromium: start a tiny run, watch the chart grow, stop by hand."""

import json
import time

import pytest

from conftest import wait_for_app

pytestmark = pytest.mark.browser

POINTS_IN_CHART = """() => {
    const plot = document.querySelector('.stPlotlyChart .js-plotly-plot');
    return plot && plot.data ? plot.data.reduce((n, trace) => n + (trace.x ? trace.x.length : 0), 0) : 0;
}"""


def set_number(page, label, value):
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")


def choose(page, label, option):
    page.get_by_label(label, exact=True).click()  # opens the select box
    page.get_by_role("option", name=option, exact=True).click()


def test_start_watch_and_stop_a_run_from_the_page(app, page):
    page.goto(f"{app.url}/Train?experiment=demo")
    wait_for_app(page)
    page.get_by_text("No training run is going").wait_for()
    set_number(page, "Epochs", 40)
    set_number(page, "Steps per epoch", 10)
    choose(page, "Start filters", "4")
    wait_for_app(page)
    page.get_by_role("button", name="Start training").click()

    # The chart fills by itself: no click between these two readings.
    page.wait_for_function(f"({POINTS_IN_CHART})() > 0", timeout=120_000)
    first = page.evaluate(POINTS_IN_CHART)
    page.wait_for_function(f"({POINTS_IN_CHART})() > {first}", timeout=60_000)
    assert page.get_by_text("running").first.is_visible()

    # Stop once an epoch has finished, so that there are weights to resume from.
    (run_dir,) = [p for p in app.models.iterdir() if (p / "config.json").exists() and p.name != "demo"]
    deadline = time.time() + 120
    while not (run_dir / "history.json").exists() or not json.loads((run_dir / "history.json").read_text()):
        assert time.time() < deadline, "no epoch finished in 2 minutes"
        time.sleep(0.5)
    page.get_by_role("button", name="Stop", exact=True).click()
    page.get_by_text("stopped by hand").first.wait_for(timeout=60_000)

    # Resume carries on in the same folder, and stops by hand again.
    epochs_before = len(json.loads((run_dir / "history.json").read_text()))
    page.get_by_role("button", name=f"Resume {run_dir.name}").click()
    page.get_by_role("button", name="Stop", exact=True).wait_for(timeout=60_000)
    while len(json.loads((run_dir / "history.json").read_text())) <= epochs_before:
        assert time.time() < deadline + 120, "the resumed run finished no epoch in 2 minutes"
        time.sleep(0.5)
    page.get_by_role("button", name="Stop", exact=True).click()
    page.get_by_text("stopped by hand").first.wait_for(timeout=60_000)

    # The run is listed, and its folder says the same.
    page.get_by_text("Runs as a list").click()
    page.get_by_text(run_dir.name).first.wait_for()
    deadline = time.time() + 30
    while json.loads((run_dir / "status.json").read_text())["state"] != "stopped":
        assert time.time() < deadline
        time.sleep(0.5)
    assert (run_dir / "best.keras").exists()
