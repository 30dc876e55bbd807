"""Canvas drawings -> masks, the editing visit (undo/redo/clear/save), frames to annotate."""

import json

import numpy as np
import pytest

from blasto.annotate import plan, strokes
from blasto.annotate.edit import MASK_RGB, FrameEdit, overlay, read_strokes, rebuild_mask
from blasto.annotate.strokes import apply_objects, object_kind, object_points, tool_style
from blasto.errors import MaskError
from blasto.store.experiment import create_experiment
from synthetic import set_pools


def path_object(points, *, tool="outline", mode="add", brush_size=20, curved=False):
    """A fabric Path as the canvas reports it (origin at the centre of its box)."""
    style = tool_style(tool, mode=mode, brush_size=brush_size)
    points = np.asarray(points, float)
    commands = [["M", *points[0]]]
    for previous, point in zip(points[:-1], points[1:]):
        if curved:  # fabric's pencil: quadratic curves through midpoints
            middle = (previous + point) / 2
            commands.append(["Q", *previous, *middle])
        else:
            commands.append(["L", *point])
    low, high = points.min(axis=0), points.max(axis=0)
    return {"type": "Path", "originX": "center", "originY": "center",
            "left": float((low[0] + high[0]) / 2), "top": float((low[1] + high[1]) / 2),
            "width": float(high[0] - low[0]), "height": float(high[1] - low[1]),
            "scaleX": 1, "scaleY": 1, "angle": 0, "fill": None,
            "stroke": style["stroke_color"], "strokeWidth": style["stroke_width"],
            "path": commands}


def polygon_object(points, *, mode="add"):
    style = tool_style("polygon", mode=mode)
    points = np.asarray(points, float)
    low, high = points.min(axis=0), points.max(axis=0)
    return {"type": "Polygon", "originX": "center", "originY": "center",
            "left": float((low[0] + high[0]) / 2), "top": float((low[1] + high[1]) / 2),
            "width": float(high[0] - low[0]), "height": float(high[1] - low[1]),
            "scaleX": 1, "scaleY": 1, "angle": 0, "fill": style["fill_color"],
            "stroke": style["stroke_color"], "strokeWidth": style["stroke_width"],
            "points": [{"x": float(x), "y": float(y)} for x, y in points]}


SQUARE = [(100, 100), (200, 100), (200, 200), (100, 200), (100, 106)]  # canvas px, nearly closed
CANVAS = (512, 512)
EMPTY = np.zeros((256, 256), bool)


def test_tool_styles_round_trip_through_object_kind():
    for tool in strokes.TOOLS:
        for mode in strokes.MODES:
            style = tool_style(tool, mode=mode)
            obj = {"type": "Polygon" if style["drawing_mode"] == "polygon" else "Path",
                   "stroke": style["stroke_color"]}
            assert object_kind(obj) == (tool, mode)
    with pytest.raises(MaskError, match="tool"):
        tool_style("lasso")
    with pytest.raises(MaskError, match="Rect"):
        object_kind({"type": "Rect", "stroke": "rgb(0, 230, 64)"})


def test_closed_outline_fills_its_inside_at_half_resolution():
    cell = apply_objects(EMPTY, [path_object(SQUARE)], canvas_size=CANVAS)
    # Canvas 512 shows the 256 frame at 2x: the square covers mask pixels 50..99.
    assert cell[50:100, 50:100].all()
    assert cell[50, 75] and cell[75, 50]  # the traced line itself is cell
    assert not cell[:47].any() and not cell[103:].any()
    assert not cell[:, :47].any() and not cell[:, 103:].any()
    assert 2500 <= cell.sum() <= 2500 + 4 * 100 * 1.5
    # fabric's pencil draws curves through the midpoints (corners come out round).
    curved = apply_objects(EMPTY, [path_object(SQUARE, curved=True)], canvas_size=CANVAS)
    assert curved[60:90, 60:90].all() and not curved[:47].any() and not curved[103:].any()


def test_open_outline_only_marks_its_line():
    line = [(100, 100), (300, 100), (300, 300)]
    cell = apply_objects(EMPTY, [path_object(line)], canvas_size=CANVAS)
    assert cell[50, 100] and cell[100, 150]
    assert not cell[70, 120]  # inside the would-be triangle: not filled
    assert cell.sum() < 500


def test_brush_paints_a_band_of_its_width():
    cell = apply_objects(EMPTY, [path_object([(100, 200), (400, 200)], tool="brush", brush_size=40)],
                         canvas_size=CANVAS)
    # 40 canvas px = 20 mask px wide, centred on row 99.5.
    column = cell[:, 120]
    assert column.sum() in (20, 21)
    assert column[90:110].all()
    assert cell[99, 50 - 9] and not cell[99, 50 - 12]  # round cap


def test_polygon_and_erase_apply_in_drawing_order():
    square = polygon_object([(0, 0), (256, 0), (256, 256), (0, 256)])
    hole = polygon_object([(64, 64), (192, 64), (192, 192), (64, 192)], mode="erase")
    cell = apply_objects(EMPTY, [square, hole], canvas_size=CANVAS)
    assert cell[5, 5] and cell[120, 120]
    assert not cell[64, 64] and not cell[40, 40]
    # Painting cell again after the erase wins: napari-style, last stroke decides.
    again = apply_objects(EMPTY, [square, hole, square], canvas_size=CANVAS)
    assert again[:120, :120].all()


def test_erase_strokes_remove_part_of_a_saved_base_mask():
    base = np.zeros((256, 256), bool)
    base[50:150, 50:150] = True
    eraser = path_object([(100, 200), (300, 200)], tool="brush", mode="erase", brush_size=20)
    cell = apply_objects(base, [eraser], canvas_size=CANVAS)
    assert not cell[99, 75] and cell[60, 75] and cell[140, 75]
    assert base[99, 75]  # the base is not changed in place


def test_moved_scaled_and_rotated_objects_land_where_the_canvas_shows_them():
    square = polygon_object([(100, 100), (200, 100), (200, 200), (100, 200)])
    moved = dict(square, left=square["left"] + 100)
    assert object_points(moved)[:, 0].min() == pytest.approx(200)
    scaled = dict(square, scaleX=2, scaleY=2)
    assert np.ptp(object_points(scaled)[:, 0]) == pytest.approx(200)
    rotated = dict(square, angle=45)
    assert np.ptp(object_points(rotated)[:, 0]) == pytest.approx(100 * np.sqrt(2))
    left_origin = dict(square, originX="left", originY="top", left=98, top=98)  # stroke 2
    assert object_points(left_origin).min(axis=0) == pytest.approx([99, 99])


def test_frame_edit_undo_redo_clear_and_dirty():
    base = np.zeros((256, 256), bool)
    base[0:10, 0:10] = True
    edit = FrameEdit(pool=1, frame=15, base=base, canvas_size=CANVAS, had_mask=True)
    first, second = path_object(SQUARE), polygon_object([(300, 300), (400, 300), (400, 400)])
    assert not edit.dirty and not edit.can_undo
    assert edit.update([first, second])  # two strokes in one report: two undo steps
    assert edit.dirty and edit.mask[75, 75] and edit.mask[5, 5]
    revision = edit.revision
    assert edit.undo() and edit.objects == [first] and edit.revision == revision + 1
    assert edit.undo() and edit.objects == [] and not edit.dirty
    assert not edit.undo()
    assert edit.redo() and edit.objects == [first]
    edit.clear()
    assert not edit.mask.any() and edit.dirty
    assert edit.undo() and edit.mask[5, 5] and edit.objects == [first]
    edit.update([first, second])
    assert not edit.can_redo  # a new stroke drops the redo history
    assert edit.initial_drawing == {"objects": [first, second]}
    assert not edit.update([first, second])  # an unchanged report is no step


def test_frame_edit_save_writes_lab_png_and_strokes(roots):
    experiment = create_experiment("annotated")
    fake_pool_movies(experiment, size=256)
    assert 31 not in plan.frames_to_annotate(experiment, 3)
    edit = FrameEdit.open(experiment, 3, 31, canvas_size=CANVAS)
    assert not edit.had_mask and not edit.base.any()
    edit.update([path_object(SQUARE)])
    path = edit.save(experiment)
    assert not edit.dirty
    from PIL import Image

    png = np.asarray(Image.open(path))
    assert png.dtype == np.uint8 and png.shape == (256, 256)
    assert png[75, 75] == 0 and png[10, 10] == 255  # black = cell
    assert experiment.annotated_frames(3) == [31]
    assert 31 in plan.frames_to_annotate(experiment, 3)  # annotated, so on the list now
    strokes = json.loads(experiment.strokes_path(3, 31).read_text())
    assert len(strokes["visits"]) == 1 and strokes["visits"][0]["canvas"] == [512, 512]

    # A second visit starts from the saved mask; erasing part of it and saving keeps the rest.
    again = FrameEdit.open(experiment, 3, 31, canvas_size=CANVAS)
    assert again.had_mask and again.base[75, 75] and not again.objects
    again.update([path_object([(100, 150), (200, 150)], tool="brush", mode="erase", brush_size=20)])
    again.save(experiment)
    saved = experiment.read_mask(3, 31)
    assert not saved[74, 75] and saved[60, 75] and saved[90, 75]
    strokes = read_strokes(experiment, 3, 31)
    assert len(strokes["visits"]) == 2
    assert np.array_equal(rebuild_mask(strokes, EMPTY), saved)


def test_overlay_enlarges_and_tints_the_mask():
    frame = np.full((256, 256), 100, np.uint8)
    cell = np.zeros((256, 256), bool)
    cell[100:150, 100:150] = True
    image = overlay(frame, cell, size=512, opacity=0.5, stretch=False)
    assert image.shape == (512, 512, 3) and image.dtype == np.uint8
    assert tuple(image[10, 10]) == (100, 100, 100)
    assert tuple(image[250, 250]) != (100, 100, 100)
    assert tuple(image[200, 200]) == MASK_RGB  # the edge is opaque


def fake_pool_movies(experiment, *, pools=(1, 2, 3), frames=40, size=16):
    set_pools(experiment, pools, size=size, box=(0, 0, 10, 10))
    for pool in pools:
        experiment.write_pool_movie(pool, np.zeros((frames, size, size), np.uint8), cleaned=False)
    experiment.set_split([1, 2], [3])


def test_frames_to_annotate_every_nth_plus_added_minus_removed(roots):
    experiment = create_experiment("frames")
    fake_pool_movies(experiment)
    assert plan.frames_to_annotate(experiment, 1) == [0, 15, 30]
    plan.add_frame(experiment, 1, 7)
    plan.remove_frame(experiment, 1, 15)
    assert plan.frames_to_annotate(experiment, 1) == [0, 7, 30]
    assert plan.frames_to_annotate(experiment, 2) == [0, 15, 30]
    plan.add_frame(experiment, 1, 15)  # back on the list
    plan.remove_frame(experiment, 1, 7)
    assert plan.frames_to_annotate(experiment, 1) == [0, 15, 30]
    plan.set_every(experiment, 10)
    experiment.reload()  # stored in the manifest
    assert plan.frames_to_annotate(experiment, 2) == [0, 10, 20, 30]
    with pytest.raises(MaskError, match="no frame 40"):
        plan.add_frame(experiment, 1, 40)
    with pytest.raises(MaskError, match="at least 1"):
        plan.set_every(experiment, 0)


def test_progress_table_counts_per_pool_and_side(roots):
    experiment = create_experiment("progress")
    fake_pool_movies(experiment)
    experiment.write_mask(1, 0, np.ones((16, 16), bool))
    experiment.write_mask(3, 15, np.ones((16, 16), bool))
    experiment.write_mask(3, 30, np.ones((16, 16), bool))
    table = plan.progress_table(plan.progress_rows(experiment)).set_index("pool")
    assert table.loc[1, "side"] == "train" and table.loc[3, "side"] == "validation"
    assert table.loc[1, "annotated"] == 1 and table.loc[1, "to annotate"] == 3
    assert table.loc[1, "next frame"] == "15" and table.loc[1, "left"] == 2
    assert table.loc[3, "annotated"] == 2 and table.loc[3, "next frame"] == "0"
    assert plan.next_frame(experiment, 2) == 0
