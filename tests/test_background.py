"""Background cleaning: corners become the dataset's mean gray, the cell stays untouched."""

import numpy as np
import pytest

from blasto.prepare.clean import (
    DEFAULT_TOLERANCE, clean_experiment, clean_frame, dark_region, fill_value_for, preview_clean,
)
from blasto.errors import ExperimentError
from blasto.store.experiment import create_experiment
from blasto.store.manifest import Background
from synthetic import set_pools

SIZE = 48


def pool_crop(seed=0, *, pool_gray=160, plate_gray=20):
    """A pool crop: dark plate corners, a bright round pool, a textured cell disc in the middle."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    distance = np.hypot(yy - (SIZE - 1) / 2, xx - (SIZE - 1) / 2)
    image = np.where(distance <= SIZE / 2 - 1, float(pool_gray), float(plate_gray))
    cell = distance <= 9
    # A textured cell: dark rim (zona) and speckles, some as dark as the plate.
    image[cell] = rng.integers(15, 140, cell.sum())
    image += rng.normal(0, 3, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), cell, distance > SIZE / 2 + 1


def test_clean_frame_fills_corners_and_keeps_cell():
    frame, cell, outside = pool_crop()
    cleaned = clean_frame(frame, tolerance=DEFAULT_TOLERANCE, fill_value=150)
    assert np.all(cleaned[outside] == 150)  # every plate pixel outside the pool
    assert np.array_equal(cleaned[cell], frame[cell])  # the cell, dark speckles included
    assert cleaned.dtype == np.uint8 and frame[0, 0] < 40  # the input is not modified


def test_tolerance_zero_fills_less_and_bright_corners_never_seed():
    frame, _, outside = pool_crop()
    assert dark_region(frame, tolerance=0).sum() < dark_region(frame, tolerance=30).sum()
    # A pool that fills the whole crop (loose grid): no corner is darker than the fill value.
    bright = np.full((SIZE, SIZE), 160, np.uint8)
    bright[20:28, 20:28] = 60
    assert np.array_equal(clean_frame(bright, tolerance=200, fill_value=150), bright)
    bright[0, 0] = 0  # ... even when the corner pixel itself is a dark speck
    assert np.array_equal(clean_frame(bright, tolerance=40, fill_value=150), bright)


def test_a_hot_corner_pixel_does_not_stop_the_flood():
    frame, cell, outside = pool_crop()
    frame[0, 0] = 255
    cleaned = clean_frame(frame, tolerance=DEFAULT_TOLERANCE, fill_value=150)
    assert np.all(cleaned[outside] == 150)
    assert np.array_equal(cleaned[cell], frame[cell])


def make_experiment(n_pools=3, n_frames=5):
    experiment = create_experiment("clean-me")
    for pool in range(1, n_pools + 1):
        frames = np.stack([pool_crop(seed=pool * 100 + t)[0] for t in range(n_frames)])
        experiment.write_pool_movie(pool, frames, cleaned=False)
    set_pools(experiment, range(1, n_pools + 1), size=SIZE)
    experiment.save_manifest()
    return experiment


def test_clean_experiment_writes_clean_movies_and_keeps_raw(roots):
    experiment = make_experiment()
    raw = np.array(experiment.read_pool_movie(2, cleaned=False))
    calls = []
    clean_experiment(experiment, tolerance=25, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (15, 15)

    fill = experiment.manifest.background.fill_value
    # The mean gray of pool pixels (pool 160, cell mostly darker), never the dark plate.
    assert 120 < fill < 165
    assert experiment.manifest.background == Background(tolerance=25, fill_value=fill, cleaned=True)
    _, cell, outside = pool_crop()
    clean = experiment.read_pool_movie(2)  # the cleaned movie is now the default
    assert experiment.pool_movie_path(2).name == "clean.tif"
    assert np.all(clean[:, outside] == fill)
    assert np.array_equal(clean[:, cell], raw[:, cell])
    assert np.array_equal(experiment.read_pool_movie(2, cleaned=False), raw)  # raw kept

    # Redo with another tolerance: the clean movie is rewritten from raw.
    clean_experiment(experiment, tolerance=0)
    assert experiment.manifest.background.tolerance == 0
    assert (experiment.read_pool_movie(2)[:, outside] != fill).any()


def test_preview_matches_clean_and_writes_nothing(roots):
    experiment = make_experiment(n_pools=2, n_frames=3)
    before, after = preview_clean(experiment, 2, 1, tolerance=25)
    assert np.array_equal(before, experiment.read_pool_movie(2, cleaned=False)[1])
    assert after[0, 0] == fill_value_for(experiment, tolerance=25)
    assert not experiment.pool_movie_path(2, cleaned=True).exists()
    clean_experiment(experiment, tolerance=25)
    assert np.array_equal(experiment.read_pool_movie(2, cleaned=True)[1], after)


def test_refusals(roots):
    experiment = create_experiment("empty")
    with pytest.raises(ExperimentError, match="no cropped pool movies"):
        clean_experiment(experiment)
    experiment = make_experiment(n_pools=1, n_frames=2)
    with pytest.raises(ExperimentError, match="Tolerance"):
        clean_experiment(experiment, tolerance=-3)
    with pytest.raises(ExperimentError, match="not frame 7"):
        preview_clean(experiment, 1, 7)
