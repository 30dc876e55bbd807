"""Shape interpolation between keyframes: discs of known radius, moving cells, a pool's gaps."""

import numpy as np
import pytest

from blasto.annotate.interpolate import interpolate_masks, interpolate_pool
from blasto.errors import BlastoError
from blasto.masks import dice
from synthetic import disc, tiny_experiment


def radius(mask):
    return float(np.sqrt(mask.sum() / np.pi))


def test_two_concentric_discs_give_discs_of_the_radii_in_between():
    small, large = disc(96, (48, 48), 10), disc(96, (48, 48), 40)
    masks = interpolate_masks(small, large, 5)        # radii 15, 20, ..., 35
    assert len(masks) == 5
    for mask, expected in zip(masks, (15, 20, 25, 30, 35)):
        assert mask.dtype == bool
        assert radius(mask) == pytest.approx(expected, abs=0.5)
        assert dice(mask, disc(96, (48, 48), expected)) > 0.97
    assert interpolate_masks(small, large, 0) == []


def test_a_moving_disc_slides_over_instead_of_vanishing():
    first, last = disc(96, (30, 20), 8), disc(96, (60, 76), 8)   # further apart than its size
    (middle,) = interpolate_masks(first, last, 1)
    assert dice(middle, disc(96, (45, 48), 8)) > 0.95


def test_a_cell_grows_from_nothing():
    masks = interpolate_masks(np.zeros((64, 64), bool), disc(64, (32, 32), 20), 3)
    areas = [int(m.sum()) for m in masks]
    assert areas == sorted(areas) and areas[-1] < disc(64, (32, 32), 20).sum()


def test_interpolate_masks_refuses_masks_of_different_shapes():
    with pytest.raises(BlastoError, match="shape"):
        interpolate_masks(np.zeros((4, 4), bool), np.zeros((4, 5), bool), 1)


def test_interpolate_pool_fills_the_gaps_between_saved_keyframes(roots):
    experiment = tiny_experiment(size=32, frames=7, every=3)      # masks on frames 0, 3, 6
    experiment.delete_mask(2, 3)
    proposals = interpolate_pool(experiment, 2)
    assert [p.frame for p in proposals] == [1, 2, 3, 4, 5]
    assert {p.source for p in proposals} == {"interpolated between frames 0 and 6"}
    assert all(p.pool == 2 and p.mask.shape == (32, 32) for p in proposals)
    # Only some frames; frames outside the keyframes are left out.
    assert [p.frame for p in interpolate_pool(experiment.name, 1, frames=[2, 4])] == [2, 4]
    assert interpolate_pool(experiment, 1, frames=[2])[0].source == "interpolated between frames 0 and 3"
    with pytest.raises(BlastoError, match="no frame 9"):
        interpolate_pool(experiment, 1, frames=[9])
