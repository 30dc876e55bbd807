"""Review page in real Chromium on the demo: the demo model by default, the movie plays in the
browser, a chart click and an event row click move it, Pause hands the frame back to Python."""

import re
import time

import pytest

from conftest import wait_for_app

pytestmark = pytest.mark.timeout(300)


def frame_shown(page, timeout=10.0) -> int:
    """The player's frame (its label says the same: "Frame N of 143").

    While the page reruns, Streamlit can show the new player beside the old one for a moment:
    wait until one is left."""
    players = page.locator(".bp")
    deadline = time.time() + timeout
    while players.count() != 1 and time.time() < deadline:
        time.sleep(0.1)
    assert players.count() == 1, f"{players.count()} players on the page"
    return int(players.get_attribute("data-frame"))


def wait_frame(page, predicate, timeout=30.0) -> int:
    """Poll the player's frame until ``predicate(frame)`` (the player lives in a shadow root,
    which Playwright's locators pierce but page.wait_for_function does not)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        frame = frame_shown(page)
        if predicate(frame):
            return frame
        time.sleep(0.1)
    raise AssertionError(f"the player stayed at frame {frame_shown(page)}")


def click_chart_at(page, frame: int) -> None:
    x, y = page.locator(".bp").evaluate(
        """(root, frame) => {
            const p = root.player, g = p.geometry, box = p.chart.getBoundingClientRect();
            return [box.left + g.px(p.data.chart.x[frame]), box.top + g.m.top + 20];
        }""", frame)
    page.mouse.click(x, y)


def test_review_plays_in_the_browser_and_jumps_to_clicked_frames_and_events(app, page):
    page.goto(f"{app.url}/Review?experiment=demo&pool=14")
    wait_for_app(page, timeout=180_000)  # the first view predicts the pool (seconds)
    page.get_by_text(re.compile(r"^Frame 0 of 143")).wait_for(timeout=120_000)
    # The demo model is the default (no run was trained on this copy of the demo).
    model = page.locator('[data-testid="stSidebar"] input[aria-label="Model"]').input_value()
    assert model.startswith("demo (demo, val Dice"), model
    assert page.get_by_text("Pearson r").is_visible()  # pool 14's saved measurements, no click
    canvas = page.locator(".bp-canvas")
    assert 200 < canvas.bounding_box()["height"] <= 1000  # no taller than the window
    page.screenshot(path=str(app.data.parent / "review.png"))

    # Play advances the frame by itself, in the browser; Pause stops it and the page reruns.
    page.get_by_role("button", name="▶ Play").click()
    wait_frame(page, lambda f: f >= 4)
    page.get_by_role("button", name="⏸ Pause").click()
    paused = frame_shown(page)
    wait_for_app(page)
    time.sleep(1.0)
    assert frame_shown(page) == paused  # the rerun after the report left the movie where it was

    # A click on the chart shows that frame.
    click_chart_at(page, 60)
    wait_frame(page, lambda f: f == 60)
    page.get_by_text("Frame 60 of 143").wait_for()
    wait_for_app(page)

    # A click on the first row of the events table moves the movie to that collapse's start.
    start = page.locator(".bp").evaluate("(root) => root.player.data.chart.collapses[0].start")
    assert start != 60
    page.get_by_text("Click a row to show its collapse in the movie.").wait_for()
    table = page.get_by_test_id("stMainBlockContainer").get_by_test_id("stDataFrame").first
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # the first row's selection cell
    wait_frame(page, lambda f: f == start, timeout=60.0)
