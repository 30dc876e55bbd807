"""The Annotate page in real Chromium on the demo experiment: draw, save, undo, erase, switch
frames and pools, and crop/clean/export a plate from the demo movie."""

from __future__ import annotations

import io
import re
import time

import numpy as np
import pytest
from PIL import Image

from conftest import wait_for_app

pytestmark = pytest.mark.browser

CANVAS = '[data-testid="stBidiComponentIsolated"] canvas.upper-canvas'
# The square traced on the 512 px canvas (2x the 256 px pool frames): canvas 100..200 is
# mask pixels 50..99.
SQUARE = [(100, 100), (200, 100), (200, 200), (100, 200), (100, 104)]


def settle(page):
    """Let the canvas report (it waits 200 ms after a stroke) and Streamlit rerun."""
    time.sleep(0.7)
    wait_for_app(page)
    time.sleep(0.3)
    wait_for_app(page)


def open_frame(page, url, pool, frame):
    page.goto(f"{url}/Annotate?experiment=demo&step=draw&pool={pool}&frame={frame}")
    wait_for_app(page)
    page.locator(CANVAS).wait_for()
    page.get_by_text(f"Pool {pool} · frame {frame}").first.wait_for()
    settle(page)


def canvas_origin(page):
    page.locator(CANVAS).scroll_into_view_if_needed()
    box = page.locator(CANVAS).bounding_box()
    return round(box["x"]), round(box["y"])


def trace(page, points):
    """Draw one stroke through canvas points with the mouse (down, moves, up)."""
    x0, y0 = canvas_origin(page)
    page.mouse.move(x0 + points[0][0], y0 + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x0 + x, y0 + y, steps=8)
    page.mouse.up()
    settle(page)


def click_polygon(page, points):
    x0, y0 = canvas_origin(page)
    for x, y in list(points) + [points[0]]:  # the first corner again closes it
        page.mouse.click(x0 + x, y0 + y)
        time.sleep(0.15)
    settle(page)


def button(page, name):
    """Click a Streamlit button (not the canvas's own toolbar, which has an Undo too)."""
    page.locator('button[data-testid^="stBaseButton"]').filter(
        has_text=re.compile(f"{name}$")).click()
    settle(page)


def choose(page, label):
    """Click a radio option (its label may start with an icon)."""
    page.locator('[data-testid="stRadio"] label').filter(has_text=re.compile(f"{label}$")).click()
    settle(page)


def pick(page, label, option):
    """Choose an option of a Streamlit select box."""
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def saved_mask(app, pool, frame):
    path = app.data / "demo" / "pools" / f"pool{pool:02d}" / "masks" / f"frame{frame:04d}.png"
    return np.asarray(Image.open(path)) if path.exists() else None


def overlay_shown(page, x, y):
    """Whether the canvas shows the mask's yellow tint at canvas point (x, y)."""
    page.locator(CANVAS).scroll_into_view_if_needed()
    box = page.locator(CANVAS).bounding_box()
    shot = Image.open(io.BytesIO(page.screenshot(clip=box))).convert("RGB")
    r, g, b = (int(v) for v in np.asarray(shot)[y, x])
    return r - b > 40 and g - b > 25


def progress_cell(page, pool, column):
    """Text of the progress table's cell for ``pool`` (column 3 = annotated)."""
    return page.locator(f'[data-testid="stDataFrame"] [data-testid="glide-cell-{column}-{pool - 1}"]'
                        ).inner_text()


def test_draw_save_undo_switch_erase_and_progress(app, page):
    # Frame 7 of pool 2 has no mask (the demo annotates every 15th frame).
    open_frame(page, app.url, 2, 7)
    assert saved_mask(app, 2, 7) is None
    assert progress_cell(page, 2, 3) == "10"

    # A closed free-hand outline, saved: black inside, white outside (the lab's PNG).
    trace(page, SQUARE)
    assert overlay_shown(page, 150, 150) and not overlay_shown(page, 300, 300)
    button(page, "Save mask")
    mask = saved_mask(app, 2, 7)
    assert mask.shape == (256, 256)
    assert (mask[52:98, 52:98] == 0).all()
    assert (mask[:46] == 255).all() and (mask[104:] == 255).all()
    assert (mask[:, :46] == 255).all() and (mask[:, 104:] == 255).all()

    # Undo removes the last stroke only: a second outline, undone, then a polygon, saved.
    trace(page, [(300, 300), (400, 300), (400, 400), (300, 400), (300, 304)])
    assert overlay_shown(page, 350, 350)
    button(page, "Undo")
    assert not overlay_shown(page, 350, 350) and overlay_shown(page, 150, 150)
    choose(page, "Polygon")
    click_polygon(page, [(300, 100), (400, 100), (400, 200)])
    button(page, "Save mask")
    mask = saved_mask(app, 2, 7)
    assert (mask[175, 175] == 255) and (mask[75, 75] == 0)  # undone / kept
    assert mask[60, 190] == 0 and mask[90, 160] == 255  # the triangle, above its diagonal

    # Switching frames and coming back shows the saved mask; unsaved strokes are autosaved.
    choose(page, "Outline")
    trace(page, [(100, 300), (200, 300), (200, 400), (100, 400), (100, 304)])
    pick(page, "Frame", "Frame 15 (2 h 30 min) · done")
    page.get_by_text("Pool 2 · frame 15").first.wait_for()
    assert saved_mask(app, 2, 7)[175, 75] == 0  # autosaved on leaving
    pick(page, "Frame", "Frame 7 (1 h 10 min) · done")  # saved, so now on the list
    page.get_by_text("Pool 2 · frame 7").first.wait_for()
    assert overlay_shown(page, 150, 150) and overlay_shown(page, 150, 350)
    assert not overlay_shown(page, 450, 450)
    assert progress_cell(page, 2, 3) == "11"

    # Erase removes part of a saved mask: a wide eraser brush across the top square.
    choose(page, "Erase")
    choose(page, "Brush")
    before = saved_mask(app, 2, 7)
    trace(page, [(60, 150), (240, 150)])
    assert not overlay_shown(page, 150, 150) and overlay_shown(page, 150, 110)
    button(page, "Save mask")
    after = saved_mask(app, 2, 7)
    assert (after[72:78, 50:100] == 255).all()  # erased band (24 px brush = 12 mask px)
    assert (after[52:62, 55:95] == 0).all() and (after[88:98, 55:95] == 0).all()  # the rest
    assert np.array_equal(after[150:], before[150:])

    # A second annotation in another pool updates the progress table.
    choose(page, "Add cell")
    choose(page, "Outline")
    pick(page, "Pool", "Pool 5 · train · 10 of 10 done")
    page.get_by_text("Pool 5 · frame 0").first.wait_for()
    page.get_by_text("Frames to annotate").click()
    page.get_by_label("Open any frame of this pool").fill("20")
    page.get_by_label("Open any frame of this pool").press("Enter")
    settle(page)
    button(page, "Open")
    page.get_by_text("Pool 5 · frame 20").first.wait_for()
    trace(page, SQUARE)
    button(page, "Save mask")
    assert saved_mask(app, 5, 20)[75, 75] == 0
    assert progress_cell(page, 5, 3) == "11"
    assert progress_cell(page, 2, 3) == "11"
    assert page.locator('[data-testid="stException"]').count() == 0
