"""Review page in real Chromium on the demo: overlay and chart, chart click -> frame, threshold -> curve."""

import re

import pytest

from conftest import wait_for_app

pytestmark = pytest.mark.timeout(300)

# The model curve's y values as a JSON string (NaN-safe), or null before the chart is drawn.
MODEL_Y = ("() => { const gd = document.querySelector('.js-plotly-plot'); "
           "return gd && gd._fullData ? JSON.stringify(Array.from(gd._fullData[0].y)) : null; }")


def frame_shown(page) -> int:
    text = page.get_by_text(re.compile(r"^Frame \d+ of \d+")).first.inner_text()
    return int(re.match(r"Frame (\d+)", text).group(1))


def click_model_point(page, frame: int) -> None:
    """Click the model curve's point of ``frame`` where plotly draws it."""
    x, y = page.evaluate(
        """(frame) => {
            const gd = document.querySelector('.js-plotly-plot');
            const trace = gd._fullData[0];
            const i = Array.from(trace.customdata).indexOf(frame);
            const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
            const box = gd.querySelector('.nsewdrag').getBoundingClientRect();
            return [box.left + xa.l2p(trace.x[i]), box.top + ya.l2p(trace.y[i])];
        }""", frame)
    page.mouse.move(x, y)
    page.mouse.click(x, y)


def test_review_overlay_chart_click_and_threshold(app, page):
    page.goto(f"{app.url}/Review?experiment=demo&pool=14")
    wait_for_app(page, timeout=180_000)  # the first view predicts the pool (seconds)
    page.get_by_text(re.compile(r"^Frame 0 of 143")).wait_for(timeout=120_000)

    # The overlay image and the chart are there.
    image = page.locator('[data-testid="stImage"] img').first
    image.wait_for()
    assert image.bounding_box()["width"] > 200
    page.wait_for_function(MODEL_Y)
    assert page.get_by_text("Manual measurements").is_visible()
    assert page.get_by_text("Pearson r").is_visible()  # pool 14 has the demo's manual measurements
    page.screenshot(path=str(app.data.parent / "review.png"))

    # Clicking a chart point moves the movie to that frame.
    click_model_point(page, 60)
    page.get_by_text(re.compile(r"^Frame 60 of 143")).wait_for(timeout=60_000)
    assert frame_shown(page) == 60

    # Next moves the frame (and the chart's marker follows).
    page.get_by_role("button", name="Next ▶").click()
    page.get_by_text(re.compile(r"^Frame 61 of 143")).wait_for(timeout=60_000)
    page.wait_for_function("() => Array.from(document.querySelectorAll('.js-plotly-plot')[0]._fullData)"
                           ".some(t => t.name === 'frame 61')")

    # Changing the threshold changes the curve (in absolute units, so any change shows).
    page.get_by_text("Normalised (min-max)").click()
    wait_for_app(page)
    before = page.evaluate(MODEL_Y)
    slider = page.get_by_role("slider", name="Threshold on P(cell)")
    slider.focus()
    for _ in range(30):
        slider.press("ArrowLeft")
    page.wait_for_function(f"(before) => {{ const y = ({MODEL_Y})(); return y && y !== before; }}",
                           arg=before, timeout=90_000)
    # Key presses may arrive as several reruns: wait for the last one to land.
    page.get_by_text("threshold 0.50").first.wait_for(timeout=90_000)
    wait_for_app(page)
    after = page.evaluate(MODEL_Y)
    assert after != before
    assert frame_shown(page) == 61  # the movie stays where it was
