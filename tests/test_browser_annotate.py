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
    time.sleep(0.5)
    wait_for_app(page)
    time.sleep(0.2)
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
    page.get_by_text("Unsaved strokes").wait_for()  # the stroke reached the server


def click_polygon(page, points):
    x0, y0 = canvas_origin(page)
    for x, y in list(points) + [points[0]]:  # the first corner again closes it
        page.mouse.click(x0 + x, y0 + y)
        time.sleep(0.15)
    settle(page)
    page.get_by_text("Unsaved strokes").wait_for()


def button(page, name):
    """Click a Streamlit button (not the canvas's own toolbar, which has an Undo too)."""
    page.locator('button[data-testid^="stBaseButton"]').filter(
        has_text=re.compile(f"{name}$")).click()
    settle(page)
    if name == "Save mask":
        page.get_by_text("Saved.").first.wait_for()


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
    button(page, "Next")
    page.get_by_text("Pool 2 · frame 15").first.wait_for()
    assert saved_mask(app, 2, 7)[175, 75] == 0  # autosaved on leaving
    pick(page, "Frame", "Frame 30 (5 h 00 min) · done")
    page.get_by_text("Pool 2 · frame 30").first.wait_for()
    button(page, "Previous")
    button(page, "Previous")
    page.get_by_text("Pool 2 · frame 7").first.wait_for()
    shown = page.get_by_role("combobox", name="Frame", exact=True).input_value()
    assert shown == "Frame 7 (1 h 10 min) · done"  # saved, so on the list
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
    button(page, "Open")
    page.get_by_text("Pool 5 · frame 20").first.wait_for()
    trace(page, SQUARE)
    button(page, "Save mask")
    assert saved_mask(app, 5, 20)[75, 75] == 0
    assert progress_cell(page, 5, 3) == "11"
    assert progress_cell(page, 2, 3) == "11"

    # Selecting a row of the progress table jumps to that pool (rows are 35 px, under a header).
    table = page.locator('[data-testid="stDataFrame"]')
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    page.mouse.click(box["x"] + 15, box["y"] + 35 * 7 + 17)
    page.get_by_text("Pool 7 · frame 0").first.wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0


def test_crop_clean_draw_and_export_a_plate_from_the_demo_movie(app, page, tmp_path):
    page.goto(f"{app.url}/Annotate?step=crop")
    wait_for_app(page)
    page.get_by_role("heading", name="1 · Crop the plate into pools").wait_for()

    # A file that is not a movie is refused with a plain message, and not kept.
    choose(page, "Upload a movie")
    bad = tmp_path / "notes.gif"
    bad.write_bytes(b"these are my notes, not a movie")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(bad))
    settle(page)
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="notes.gif")
    assert "cannot be used" in alert.inner_text()
    assert not (app.data / "uploads" / "notes.gif").exists()

    # The demo movie under data/, the suggested grid, a small working size.
    choose(page, "A movie already under data/")
    page.get_by_text("plate.tif: 144 frames of 1200x1200 pixels").wait_for()
    page.get_by_label("Working size of each pool (pixels)").fill("64")
    page.get_by_label("New experiment name").fill("plate 1")
    page.get_by_label("New experiment name").press("Enter")
    settle(page)
    button(page, "Crop into pools")
    page.get_by_text("Cropped 16 pools into experiment 'plate 1'").wait_for(timeout=120_000)
    experiment = app.data / "plate 1"
    assert all((experiment / "pools" / f"pool{p:02d}" / "raw.tif").exists() for p in range(1, 17))

    # Clean, then draw in a train pool and a validation pool.
    page.get_by_role("heading", name="2 · Clean the background").wait_for()
    button(page, "Clean every frame of every pool")
    page.get_by_text("Cleaned every pool with tolerance 30").wait_for(timeout=120_000)
    assert (experiment / "pools" / "pool16" / "clean.tif").exists()
    page.get_by_text("Pool 1 · frame 0").first.wait_for()
    trace(page, SQUARE)
    button(page, "Next")  # autosaves frame 0
    page.get_by_text("Pool 1 · frame 15").first.wait_for()
    pick(page, "Pool", "Pool 12 · validation · 0 of 10 done")
    page.get_by_text("Pool 12 · frame 0").first.wait_for()
    trace(page, SQUARE)
    button(page, "Save mask")
    for pool in (1, 12):
        path = experiment / "pools" / f"pool{pool:02d}" / "masks" / "frame0000.png"
        mask = np.asarray(Image.open(path))
        assert mask.shape == (64, 64) and mask[18, 18] == 0 and mask[50, 50] == 255

    # Export in the lab's layout, by side.
    choose(page, "4 · Split & lab data")
    # A folder outside the data folder is refused, naming the setting that allows it ...
    page.get_by_label("Empty folder to write into").fill(str(tmp_path / "elsewhere"))
    page.get_by_label("Empty folder to write into").press("Enter")
    settle(page)
    button(page, "Export to the folder")
    page.locator('[data-testid="stAlert"]').filter(has_text="BLASTO_EXTRA_ROOTS").wait_for()
    assert not (tmp_path / "elsewhere").exists()
    # ... one under it is fine.
    out = app.data / "exports" / "for the notebook"
    page.get_by_label("Empty folder to write into").fill(str(out))
    page.get_by_label("Empty folder to write into").press("Enter")
    settle(page)
    button(page, "Export to the folder")
    page.get_by_text("Exported 1 train and 1 validation pairs").wait_for()
    assert sorted(p.name for p in (out / "train").iterdir()) == [
        "pool01_frame0000_x.png", "pool01_frame0000_y.png"]
    assert sorted(p.name for p in (out / "validation").iterdir()) == [
        "pool12_frame0000_x.png", "pool12_frame0000_y.png"]

    # ... and the lab's folder imports back, keeping the sides.
    page.get_by_label("Folder on this computer").fill(str(out))
    button(page, "Import the folder")
    page.get_by_text("Imported 1 train, 1 validation pair(s).").wait_for()
    page.get_by_text("Imported pairs: 1 train, 1 validation.").wait_for()
    assert len(list((experiment / "imported" / "validation").glob("mask*.png"))) == 1
    assert page.locator('[data-testid="stException"]').count() == 0
