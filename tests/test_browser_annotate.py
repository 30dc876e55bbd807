"""The Annotate page in real Chromium on the demo experiment: draw, erase, undo, zoom, switch at
once, two tabs, propose and correct, and crop/clean/export a plate from the demo movie."""

from __future__ import annotations

import io
import re
import time

import numpy as np
import pytest
from PIL import Image

from conftest import wait_for_app

pytestmark = pytest.mark.browser

CANVAS = '[data-testid="blasto-canvas-surface"]'
# The surface shows the 256 px pool frames at 2x (512 px) at zoom 1x: surface 100..200 is mask
# pixels 50..99.
SQUARE = [(100, 100), (200, 100), (200, 200), (100, 200)]


def settle(page):
    """Let the surface's event reach the server and Streamlit rerun."""
    time.sleep(0.4)
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


def trace(page, points, *, wait=True):
    """Draw one stroke through surface points with the mouse (down, moves, up)."""
    x0, y0 = canvas_origin(page)
    page.mouse.move(x0 + points[0][0], y0 + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x0 + x, y0 + y, steps=8)
    page.mouse.up()
    if wait:
        settle(page)
        page.get_by_text("Unsaved strokes").wait_for()


def tool(page, name):
    """Click a button of the surface's toolbar (inside its shadow root)."""
    page.locator(f'[data-testid="blasto-canvas"] button[aria-label="{name}"]').click()
    time.sleep(0.1)


def save(page):
    tool(page, "Save mask")
    settle(page)
    page.get_by_text("Saved.").first.wait_for()


def button(page, name):
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
    """Whether the surface shows the mask's yellow tint at surface point (x, y)."""
    page.locator(CANVAS).scroll_into_view_if_needed()
    box = page.locator(CANVAS).bounding_box()
    shot = Image.open(io.BytesIO(page.screenshot(clip=box))).convert("RGB")
    r, g, b = (int(v) for v in np.asarray(shot)[y, x])
    return r - b > 40 and g - b > 25


def picked(page, label):
    """The text a Streamlit select box shows now (its value may sit in an input)."""
    box = page.locator('[data-testid="stSelectbox"]').filter(
        has=page.get_by_text(label, exact=True)).first
    return box.evaluate("e => e.innerText + ' ' + "
                        "Array.from(e.querySelectorAll('input')).map(i => i.value).join(' ')")


def pool_progress(page):
    """(annotated, to annotate) of the pool shown, as the Pool picker counts them."""
    done, listed = re.search(r"(\d+) of (\d+) done", picked(page, "Pool")).groups()
    return int(done), int(listed)


def test_draw_erase_undo_zoom_and_switch_at_once(app, page):
    open_frame(page, app.url, 2, 7)
    assert saved_mask(app, 2, 7) is None
    done, listed = pool_progress(page)
    # A free-hand outline, saved: black inside, white outside (the lab's PNG).
    trace(page, SQUARE)
    assert overlay_shown(page, 150, 150) and not overlay_shown(page, 300, 300)
    save(page)
    mask = saved_mask(app, 2, 7)
    assert (mask[52:98, 52:98] == 0).all() and (mask[:47] == 255).all() and (mask[103:] == 255).all()
    # Progress counts it: frame 7 (not every 15th) is done, so it is on the list now.
    assert pool_progress(page) == (done + 1, listed + 1)
    assert picked(page, "Frame").strip().endswith("Frame 7 (1 h 10 min) · done")
    # Erase with the brush, then undo it (Ctrl+Z): the square is whole again.
    tool(page, "Brush")
    tool(page, "Erase")
    trace(page, [(60, 150), (240, 150)])
    assert not overlay_shown(page, 150, 150)
    page.keyboard.press("Control+z")
    settle(page)
    assert overlay_shown(page, 150, 150)
    tool(page, "Erase")
    # Zoom in about the centre of the view with the + key, draw at zoom.
    tool(page, "Outline")
    for _ in range(3):
        page.keyboard.press("=")  # (= is +) 1.25^3 = 1.95x about the centre of the view
    zoom = 1.25 ** 3
    # Surface point p shows image pixel 128 + (p - 256) / (2 * zoom).
    corners = [(256 + 2 * zoom * (x - 128), 256 + 2 * zoom * (y - 128))
               for x, y in ((150, 150), (170, 150), (170, 170), (150, 170))]
    trace(page, corners)
    save(page)
    mask = saved_mask(app, 2, 7)
    assert (mask[152:168, 152:168] == 0).all() and mask[145, 160] == 255 and mask[175, 160] == 255
    page.keyboard.press("0")
    # No lost strokes: draw and switch frame at once; the stroke is saved on frame 7.
    trace(page, [(300, 300), (400, 300), (400, 400), (300, 400)], wait=False)
    page.keyboard.press(".")  # next frame
    page.get_by_text("Pool 2 · frame 15").first.wait_for()
    settle(page)
    assert saved_mask(app, 2, 7)[175, 175] == 0
    # Undo history survives going back: Ctrl+Z on frame 7 takes the last stroke back.
    page.keyboard.press(",")
    page.get_by_text("Pool 2 · frame 7").first.wait_for()
    settle(page)
    page.keyboard.press("Control+z")
    settle(page)
    assert not overlay_shown(page, 350, 350) and overlay_shown(page, 150, 150)
    assert page.locator('[data-testid="stException"]').count() == 0


def test_two_tabs_do_not_overwrite_each_other(app, browser):
    tabs = []
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        for _ in range(2):
            tab = context.new_page()
            tab.set_default_timeout(30_000)
            open_frame(tab, app.url, 3, 7)
            tabs.append(tab)
        first, second = tabs
        # Both draw; the first saves; the second's save finds the first's mask on disk.
        trace(second, [(300, 300), (400, 300), (400, 400), (300, 400)])
        trace(first, SQUARE)
        save(first)
        tool(second, "Save mask")
        settle(second)
        second.get_by_text("saved in another tab").first.wait_for()
        mask = saved_mask(app, 3, 7)
        assert mask[75, 75] == 0 and mask[175, 175] == 255  # not overwritten
        button(second, "Merge as union")
        mask = saved_mask(app, 3, 7)
        assert mask[75, 75] == 0 and mask[175, 175] == 0
    finally:
        context.close()


def test_propose_erase_save_reload(app, page):
    pytest.importorskip("blasto.annotate.propose")
    if not (app.models / "demo").is_dir():
        pytest.skip("no shipped demo model")
    open_frame(page, app.url, 4, 7)
    page.get_by_role("button", name="Propose", exact=True).first.click()
    page.get_by_text("Unsaved strokes").wait_for(timeout=120_000)
    settle(page)
    tool(page, "Brush")
    tool(page, "Erase")
    trace(page, [(0, 256), (512, 256)])
    save(page)
    saved = saved_mask(app, 4, 7)
    assert (saved == 0).sum() > 500 and (saved[126:130] == 255).all()
    page.reload()
    wait_for_app(page)
    page.get_by_text("proposed by").first.wait_for()
    strokes = app.data / "demo" / "pools" / "pool04" / "strokes" / "frame0007.json"
    assert '"origin": "model"' in strokes.read_text()


def test_retrain_from_corrections_starts_a_run_from_the_chosen_model_and_stops(app, page):
    """The Retrain button starts an ordinary training run (its own process) from the default
    model, visible in the panel; Stop ends it."""
    pytest.importorskip("blasto.annotate.retrain")
    if not (app.models / "demo").is_dir():
        pytest.skip("no shipped demo model")
    import json
    from pathlib import Path

    open_frame(page, app.url, 4, 7)
    page.get_by_text("Retrain from corrections").first.click()
    page.get_by_role("button", name="Retrain from corrections").click()
    page.get_by_text("Training run").first.wait_for(timeout=60_000)
    (run,) = [p for p in app.models.iterdir() if (p / "config.json").is_file() and p.name != "demo"]
    config = json.loads((run / "config.json").read_text())
    assert config["experiment"] == "demo"
    assert Path(config["initial_model"]).parent.resolve() == (app.models / "demo").resolve()
    page.get_by_role("button", name="Stop").click()
    deadline = time.time() + 180
    while time.time() < deadline:
        state = json.loads((run / "status.json").read_text()).get("state") if (run / "status.json").exists() else None
        if state in ("stopped", "finished", "failed"):
            break
        time.sleep(1)
    assert state in ("stopped", "finished"), state


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
    save(page)
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
