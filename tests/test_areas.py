"""Areas from probabilities: threshold, post-processing, units and time on masks of known area."""

import numpy as np
import pytest

from blasto.review.areas import (
    PostProcessing, area_table, best_unit, fill_holes, keep_centre_objects, keep_largest_object,
    masks_from_probabilities, pixel_areas, remove_small_objects,
)
from blasto.masks import cell_mask
from synthetic import set_pools
from blasto.errors import BlastoError
from blasto.store.experiment import create_experiment
from synthetic import disc  # the one disc helper of the tests (test_dataset uses it too)


def scene():
    """Frame 0: a 20x20 cell with a 4x4 hole, plus a 3x3 'bubble' in a corner.
    Frame 1: a 10x10 square at the centre and a bigger 15x15 one off-centre."""
    masks = np.zeros((2, 64, 64), bool)
    masks[0, 2:22, 2:22] = True
    masks[0, 10:14, 10:14] = False
    masks[0, 50:53, 50:53] = True
    masks[1, 27:37, 27:37] = True
    masks[1, 0:15, 45:60] = True
    return masks


def test_threshold_is_strictly_above_on_floats_and_cache_bytes():
    probabilities = np.array([0.79, 0.8, 0.81])
    assert cell_mask(probabilities, threshold=0.8).tolist() == [False, False, True]
    as_bytes = np.round(probabilities * 255).astype(np.uint8)  # 201, 204, 207
    assert cell_mask(as_bytes, threshold=0.8).tolist() == [False, False, True]


def test_fill_holes_gives_the_hole_filled_area():
    masks = scene()
    assert pixel_areas(masks)[0] == 400 - 16 + 9
    assert pixel_areas(fill_holes(masks))[0] == 400 + 9


def test_a_gap_to_the_border_is_not_a_hole():
    mask = np.zeros((20, 20), bool)
    mask[5:15, 5:15] = True
    mask[8:12, 8:20] = False  # a bay open to the right edge
    mask[8:12, 15:20] = False
    assert fill_holes(mask).sum() == mask.sum()


def test_holes_are_filled_frame_by_frame_not_across_frames():
    masks = np.zeros((3, 12, 12), bool)
    masks[1, 2:10, 2:10] = True
    masks[1, 5:7, 5:7] = False
    filled = fill_holes(masks)
    assert filled[0].sum() == 0 and filled[2].sum() == 0
    assert filled[1].sum() == 64


def test_largest_object_per_frame():
    largest = keep_largest_object(scene())
    assert pixel_areas(largest).tolist() == [400 - 16, 225]
    assert not largest[0, 50:53, 50:53].any()


def test_objects_touching_the_centre():
    centre = keep_centre_objects(scene())
    assert pixel_areas(centre).tolist() == [0, 100]


def test_min_size_drops_bubbles_only():
    cleaned = remove_small_objects(scene(), min_size=10)
    assert pixel_areas(cleaned).tolist() == [400 - 16, 100 + 225]


def test_postprocessing_options_combine():
    probabilities = np.where(scene(), 250, 5).astype(np.uint8)
    cases = {
        PostProcessing(fill_holes=False, keep="all", min_size=0): [393, 325],
        PostProcessing(fill_holes=True, keep="all", min_size=0): [409, 325],
        PostProcessing(fill_holes=True, keep="largest", min_size=0): [400, 225],
        PostProcessing(fill_holes=True, keep="centre", min_size=0): [0, 100],
        PostProcessing(fill_holes=True, keep="all", min_size=10): [400, 325],
        PostProcessing(fill_holes=True, keep="all", min_size=150): [400, 225],
        PostProcessing(threshold=0.99, keep="all"): [0, 0],
    }
    for post, expected in cases.items():
        assert pixel_areas(masks_from_probabilities(probabilities, post=post)).tolist() == expected, post


def test_a_single_frame_mask_works_too():
    mask = disc(32, (16, 16), 6)
    assert keep_largest_object(mask).shape == (32, 32)
    assert pixel_areas(fill_holes(mask)).tolist() == [mask.sum()]


@pytest.mark.parametrize("bad", [dict(threshold=1.5), dict(keep="biggest"), dict(min_size=-1)])
def test_bad_post_processing_is_refused(bad):
    with pytest.raises(BlastoError):
        PostProcessing(**bad)


def test_units_and_time_from_the_manifest(roots):
    experiment = create_experiment("units")
    experiment.manifest.frame_interval_s, experiment.manifest.pixel_size_um = 600.0, 1.5
    # A 128 x 96 source box: one crop pixel = (128/64) * (96/64) = 3 source pixels.
    set_pools(experiment, [2], size=64, box=(100, 200, 228, 296))
    assert experiment.manifest.source_pixels_per_working_pixel(2) == 3.0
    table = area_table(experiment, 2, np.array([10, 20, 0]))
    assert table["pool"].tolist() == [2, 2, 2]
    assert table["frame"].tolist() == [0, 1, 2]
    assert table["time_min"].tolist() == [0.0, 10.0, 20.0]
    assert table["time_h"].tolist() == pytest.approx([0.0, 1 / 6, 2 / 6])
    assert table["area_source_px"].tolist() == [30.0, 60.0, 0.0]
    assert table["area_um2"].tolist() == pytest.approx([30 * 2.25, 60 * 2.25, 0.0])
    assert best_unit(table) == "area_um2"


def test_missing_units_are_nan_not_invented(roots):
    experiment = create_experiment("bare")
    table = area_table(experiment, 1, np.array([5, 6]))
    assert table["area_px"].tolist() == [5.0, 6.0]
    assert table["area_source_px"].isna().all()
    assert table["area_um2"].isna().all()
    assert table["time_min"].isna().all()
    assert best_unit(table) == "area_px"


def test_a_pool_without_a_known_box_has_no_source_units(roots):
    # A manifest's pools always have a box (one without is refused as damaged); a pool not in
    # the manifest has no known source units.
    experiment = create_experiment("boxless")
    experiment.manifest.pixel_size_um = 1.5
    set_pools(experiment, [1], size=64)
    for pool in (2, 3):
        table = area_table(experiment, pool, np.array([5, 6]))
        assert table["area_px"].tolist() == [5.0, 6.0]
        assert table["area_source_px"].isna().all() and table["area_um2"].isna().all()


def test_postprocess_in_the_cells_window_equals_the_whole_frame():
    """postprocess labels only the window around the cells: the result is the whole frame's."""
    from blasto.review.areas import _postprocess, masks_of_pools, postprocess

    rng = np.random.default_rng(1)
    stack = np.zeros((6, 40, 40), bool)
    stack[:, 8:30, 10:33] = rng.random((6, 22, 23)) < 0.7  # ragged objects with holes
    stack[2, 0:3, 5:9] = True   # an object on the frame's border (its hole is open)
    stack[3, 20:25, 0:5] = True
    stack[3, 22, 0:2] = False
    for keep in ("all", "largest", "centre"):
        for fill in (True, False):
            expected = _postprocess(stack, fill=fill, keep=keep, min_size=5, disc=None)
            assert np.array_equal(postprocess(stack, fill=fill, keep=keep, min_size=5), expected), (keep, fill)
    assert not postprocess(np.zeros((2, 5, 5), bool)).any()
    probabilities = {1: np.where(stack, 250, 0).astype(np.uint8), 2: np.zeros((6, 40, 40), np.uint8)}
    both = masks_of_pools(probabilities, workers=2)
    assert np.array_equal(both[1], masks_from_probabilities(probabilities[1])) and not both[2].any()
