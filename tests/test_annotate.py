"""Strokes -> masks, the editing of one mask (undo/redo, proposals, provenance, two tabs),
frames to annotate."""

import json

import numpy as np
import pytest

from blasto.annotate import plan
from blasto.annotate.edit import (MASK_RGB, FrameEdit, Slot, StaleMaskError, overlay,
                                  read_provenance, read_strokes, rebuild_mask)
from blasto.annotate.strokes import Stroke, apply_strokes, from_fabric, object_points
from blasto.errors import MaskError
from blasto.store.experiment import create_experiment
from synthetic import set_pools

EMPTY = np.zeros((256, 256), bool)
SQUARE = ((50, 50), (100, 50), (100, 100), (50, 100))  # image pixels


def test_outline_closes_and_fills_in_image_pixels():
    cell = apply_strokes(EMPTY, [Stroke("outline", "add", SQUARE)])
    assert cell[50:100, 50:100].all()
    assert not cell[:48].any() and not cell[102:].any()
    assert not cell[:, :48].any() and not cell[:, 102:].any()


def test_brush_band_and_erase_in_drawing_order():
    band = Stroke("brush", "add", ((50, 100), (200, 100)), size=20)
    cell = apply_strokes(EMPTY, [band])
    assert cell[:, 120].sum() in (20, 21) and cell[90:110, 120].all()
    assert cell[99, 50 - 9] and not cell[99, 50 - 12]  # round cap
    hole = Stroke("polygon", "erase", ((100, 80), (140, 80), (140, 120), (100, 120)))
    cell = apply_strokes(EMPTY, [band, hole])
    assert not cell[100, 120] and cell[100, 90]
    again = apply_strokes(EMPTY, [band, hole, band])  # napari-style: the last stroke decides
    assert again[100, 120]


def test_bad_strokes_are_refused():
    with pytest.raises(MaskError, match="tool"):
        Stroke("lasso", "add", ((1, 1),))
    with pytest.raises(MaskError, match="stroke"):
        Stroke.from_dict({"tool": "brush", "points": "nonsense"})


def test_round_1_fabric_objects_become_strokes():
    polygon = {"type": "Polygon", "stroke": "rgb(0, 230, 64)", "strokeWidth": 2,
               "originX": "center", "originY": "center", "left": 150, "top": 150,
               "points": [{"x": 100, "y": 100}, {"x": 200, "y": 100}, {"x": 200, "y": 200},
                          {"x": 100, "y": 200}]}
    stroke = from_fabric(polygon, canvas_size=(512, 512), shape=(256, 256))
    assert stroke.tool == "polygon" and stroke.points[0] == (50.0, 50.0)
    assert apply_strokes(EMPTY, [stroke])[52:98, 52:98].all()
    assert object_points(dict(polygon, left=250))[:, 0].min() == pytest.approx(200)


def test_frame_edit_undo_redo_clear_and_proposal_is_one_step():
    base = EMPTY.copy()
    base[0:10, 0:10] = True
    edit = FrameEdit(slot=Slot(pool=1, frame=15), base=base, had_mask=True)
    assert not edit.dirty and not edit.can_undo
    edit.add_stroke(Stroke("outline", "add", SQUARE))
    assert edit.dirty and edit.mask[75, 75] and edit.mask[5, 5]
    proposal = np.zeros_like(base)
    proposal[150:200, 150:200] = True
    edit.propose(proposal, "model demo")
    assert np.array_equal(edit.mask, proposal) and edit.proposal is not None
    assert edit.undo() and edit.mask[75, 75] and edit.proposal is None
    assert edit.undo() and not edit.dirty and not edit.undo()
    assert edit.redo() and edit.mask[75, 75]
    edit.clear()
    assert not edit.mask.any() and edit.undo() and edit.mask[5, 5]


def fake_pool_movies(experiment, *, pools=(1, 2, 3), frames=40, size=16):
    set_pools(experiment, pools, size=size, box=(0, 0, 10, 10))
    for pool in pools:
        experiment.write_pool_movie(pool, np.zeros((frames, size, size), np.uint8), cleaned=False)
    experiment.set_split([1, 2], [3])


def test_save_records_provenance_and_replays(roots):
    experiment = create_experiment("annotated")
    fake_pool_movies(experiment, size=256)
    edit = FrameEdit.open(experiment, Slot(pool=3, frame=31))
    edit.add_stroke(Stroke("outline", "add", SQUARE))
    result = edit.save(experiment)
    assert result.provenance.origin == "hand" and not edit.dirty
    assert experiment.annotated_frames(3) == [31] and 31 in plan.frames_to_annotate(experiment, 3)
    # A proposal, corrected by an eraser, saved: "proposed by model demo, corrected".
    again = FrameEdit.open(experiment, Slot(pool=3, frame=31))
    proposal = np.zeros((256, 256), bool)
    proposal[100:200, 100:200] = True
    again.propose(proposal, "model demo")
    again.add_stroke(Stroke("brush", "erase", ((90, 150), (210, 150)), size=10))
    saved = again.save(experiment)
    erased = int((proposal & ~experiment.read_mask(3, 31)).sum())
    assert erased > 0 and saved.provenance.pixels_changed == erased
    recorded = read_provenance(experiment, Slot(pool=3, frame=31))
    assert recorded.origin == "model" and recorded.status == "corrected"
    assert "proposed by model demo" in recorded.text
    strokes = read_strokes(experiment, 3, 31)
    assert len(strokes["visits"]) == 2
    assert np.array_equal(rebuild_mask(strokes, EMPTY), experiment.read_mask(3, 31))
    # Copied and accepted as is: zero pixels changed.
    copy = FrameEdit.open(experiment, Slot(pool=3, frame=32))
    copy.propose(proposal, "copy of frame 31")
    assert copy.save(experiment).provenance.text == "copy of frame 31, accepted"


def test_round_1_strokes_file_replays_and_migrates(roots):
    experiment = create_experiment("old")
    fake_pool_movies(experiment, size=256)
    square = {"type": "Polygon", "stroke": "rgb(0, 230, 64)", "strokeWidth": 2,
              "originX": "center", "originY": "center", "left": 150, "top": 150,
              "points": [{"x": 100, "y": 100}, {"x": 200, "y": 100}, {"x": 200, "y": 200},
                         {"x": 100, "y": 200}]}
    path = experiment.strokes_path(1, 0)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"version": 1, "visits": [
        {"canvas": [512, 512], "cleared_base": False, "objects": [square]}]}))
    experiment.write_mask(1, 0, rebuild_mask(read_strokes(experiment, 1, 0), EMPTY))
    assert experiment.read_mask(1, 0)[75, 75]
    edit = FrameEdit.open(experiment, Slot(pool=1, frame=0))
    edit.add_stroke(Stroke("outline", "add", ((150, 150), (200, 150), (200, 200))))
    edit.save(experiment)
    written = json.loads(path.read_text())
    assert written["version"] == 2 and "objects" not in written["visits"][0]
    assert np.array_equal(rebuild_mask(written, EMPTY), experiment.read_mask(1, 0))


def test_second_tab_does_not_overwrite_silently(roots):
    experiment = create_experiment("tabs")
    fake_pool_movies(experiment, size=256)
    slot = Slot(pool=2, frame=5)
    first, second = FrameEdit.open(experiment, slot), FrameEdit.open(experiment, slot)
    first.add_stroke(Stroke("polygon", "add", SQUARE))
    first.save(experiment)
    second.add_stroke(Stroke("polygon", "add", ((150, 150), (200, 150), (200, 200), (150, 200))))
    with pytest.raises(StaleMaskError, match="another tab"):
        second.save(experiment)
    assert experiment.read_mask(2, 5)[75, 75] and not experiment.read_mask(2, 5)[175, 175]
    second.save(experiment, resolve="union")
    both = experiment.read_mask(2, 5)
    assert both[75, 75] and both[175, 175]
    # The first tab now is stale in turn: taking theirs adopts the union (one undo step).
    first.add_stroke(Stroke("brush", "erase", ((75, 60), (75, 90)), size=8))
    first.save(experiment, resolve="theirs")
    assert not first.dirty and first.mask[175, 175] and experiment.read_mask(2, 5)[75, 75]
    first.add_stroke(Stroke("brush", "erase", ((75, 60), (75, 90)), size=8))
    first.save(experiment)  # no conflict any more
    assert not experiment.read_mask(2, 5)[75, 75]
    second.add_stroke(Stroke("polygon", "add", ((10, 10), (20, 10), (20, 20))))
    second.save(experiment, resolve="mine")
    assert experiment.read_mask(2, 5)[75, 75]  # mine had it


def test_imported_lab_pairs_are_editable_masks(roots):
    experiment = create_experiment("lab", size=64)
    image = np.full((64, 64), 90, np.uint8)
    cell = np.zeros((64, 64), bool)
    cell[10:30, 10:30] = True
    experiment.write_imported_pair("train", 1, image, cell)
    from blasto.annotate.edit import imported_slots

    slots = imported_slots(experiment, "train")
    assert slots == [Slot(side="train", frame=1)]
    edit = FrameEdit.open(experiment, slots[0])
    assert edit.had_mask and np.array_equal(edit.mask, cell)
    assert slots[0].image(experiment)[0, 0] == 90
    edit.add_stroke(Stroke("brush", "erase", ((20, 5), (20, 40)), size=4))
    assert edit.save(experiment).provenance.origin == "saved"
    _, saved = experiment.imported_pairs("train")[0]
    assert saved == experiment.imported_mask_path("train", 1)
    assert not experiment.read_imported_pair(*experiment.imported_pairs("train")[0])[1][20, 20]
    assert experiment.imported_strokes_path("train", 1).exists()


def test_overlay_enlarges_and_tints_the_mask():
    frame = np.full((256, 256), 100, np.uint8)
    cell = np.zeros((256, 256), bool)
    cell[100:150, 100:150] = True
    image = overlay(frame, cell, size=512, opacity=0.5, stretch=False)
    assert image.shape == (512, 512, 3) and image.dtype == np.uint8
    assert tuple(image[10, 10]) == (100, 100, 100)
    assert tuple(image[250, 250]) != (100, 100, 100)
    assert tuple(image[200, 200]) == MASK_RGB  # the edge is opaque


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
