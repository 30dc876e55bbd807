"""Clean the background: flood-fill the dark plate around each round pool with a mean gray.

Each pool crop is a square around a round pool, so its corners show the dark plate. Left dark,
they teach the network "pool versus plate" instead of "cell versus pool". As the lab does, the
dark region connected to the four corners is flood-filled (:func:`skimage.segmentation.flood`)
with the dataset's mean gray.

* ``tolerance`` (gray levels, 0-255): a pixel joins the flood when it differs from the corner's
  gray by at most this much. A corner's gray is the median of the 3x3 pixels in the corner, so
  one noisy corner pixel does not shift the range.
* A corner only seeds the flood when its gray is darker than the fill value: a pool that
  reaches a corner (a loose grid) is never flooded.
* ``fill_value``, the dataset's mean gray: the mean of all pool pixels *outside* the flooded
  dark region, over a sample of frames (:data:`SAMPLE_FRAMES` spread over the movie) of every
  pool. It depends a little on the tolerance, so it is computed for each tolerance.

The uncleaned crops (``raw.tif``) are kept; ``clean.tif`` can be redone with another tolerance.
"""

from __future__ import annotations

import numpy as np

from blasto.errors import ExperimentError
from blasto.movies import sample_indices
from blasto.store.manifest import Background

#: Default flood tolerance in gray levels: well above camera noise on the dark plate, well
#: below the step from plate to pool.
DEFAULT_TOLERANCE = 30
#: A corner's gray is the median of the (CORNER + 1) x (CORNER + 1) pixels in the corner.
CORNER = 2
#: Frames per pool the fill value is estimated on.
SAMPLE_FRAMES = 8


def dark_region(frame: np.ndarray, *, tolerance: float, seed_below: float | None = None) -> np.ndarray:
    """Boolean mask of the region connected to the frame's corners within ``tolerance``.

    Only corners whose gray (median of the pixels in the corner) is below ``seed_below`` seed
    the flood (all four when None).

    >>> frame = np.full((6, 5), 200, np.uint8); frame[:3] = 10
    >>> dark_region(frame, tolerance=20, seed_below=100).astype(int)[2:4]
    array([[1, 1, 1, 1, 1],
           [0, 0, 0, 0, 0]])
    """
    from skimage.segmentation import flood

    frame = np.asarray(frame)
    height, width = frame.shape
    image = frame.astype(np.float32)
    region = np.zeros(frame.shape, dtype=bool)
    for corner in ((0, 0), (0, width - 1), (height - 1, 0), (height - 1, width - 1)):
        if region[corner]:
            continue  # already reached from another corner
        # flood() compares with the seed pixel's value: make that the corner's local median, so
        # one noisy corner pixel neither narrows the flood nor starts one in a bright pool.
        y, x = corner
        patch = frame[max(y - CORNER, 0):y + CORNER + 1, max(x - CORNER, 0):x + CORNER + 1]
        reference = float(np.median(patch))
        if seed_below is not None and reference >= seed_below:
            continue
        image[corner] = reference
        region |= flood(image, corner, tolerance=float(tolerance), connectivity=1)
        image[corner] = frame[corner]
    return region


def clean_frame(frame: np.ndarray, *, tolerance: float, fill_value: float) -> np.ndarray:
    """The frame with its dark region connected to the 4 corners filled with ``fill_value``.

    >>> frame = np.full((5, 5), 150, np.uint8); frame[:3, :3] = 12
    >>> clean_frame(frame, tolerance=20, fill_value=140)[2:4]
    array([[140, 140, 140, 150, 150],
           [150, 150, 150, 150, 150]], dtype=uint8)
    """
    frame = np.asarray(frame)
    cleaned = frame.copy()
    cleaned[dark_region(frame, tolerance=tolerance, seed_below=fill_value)] = np.rint(fill_value)
    return cleaned


def fill_value_for(experiment, *, tolerance: float = DEFAULT_TOLERANCE) -> int:
    """The dataset's mean gray: mean of pool pixels outside the dark region (see module doc).

    Remembered per experiment, tolerance and raw movies (their modification times), so a
    preview slider does not recompute it on every frame.
    """
    pools = _pools_with_movies(experiment)
    key = (str(experiment.path.resolve()), float(tolerance), tuple(
        (p, experiment.pool_movie_path(p, cleaned=False).stat().st_mtime_ns) for p in pools
    ))
    if key not in _FILL_CACHE:
        if len(_FILL_CACHE) >= 64:
            _FILL_CACHE.clear()
        _FILL_CACHE[key] = _compute_fill_value(experiment, pools, tolerance=tolerance)
    return _FILL_CACHE[key]


_FILL_CACHE: dict = {}


def _compute_fill_value(experiment, pools, *, tolerance) -> int:
    frames = [
        movie[index]
        for movie in (experiment.read_pool_movie(p, cleaned=False) for p in pools)
        for index in sample_indices(len(movie), SAMPLE_FRAMES)
    ]
    # First guess of "dark" for seeding: the overall mean lies between plate and pool grays.
    overall = float(np.mean([f.mean() for f in frames]))
    total, count = 0.0, 0
    for frame in frames:
        keep = ~dark_region(frame, tolerance=tolerance, seed_below=overall)
        total += float(frame[keep].sum(dtype=np.float64))
        count += int(keep.sum())
    return int(round(total / count)) if count else int(round(overall))


def clean_experiment(experiment, *, tolerance: float = DEFAULT_TOLERANCE, progress=None) -> None:
    """Write ``pools/poolNN/clean.tif`` for every pool from its ``raw.tif``.

    Records the tolerance and fill value in the manifest's ``background``.
    ``progress(done, total)`` counts frames over all pools.
    """
    tolerance = check_tolerance(tolerance)
    pools = _pools_with_movies(experiment)
    fill_value = fill_value_for(experiment, tolerance=tolerance)
    total = sum(len(experiment.read_pool_movie(p, cleaned=False)) for p in pools)
    done = 0
    for pool in pools:
        raw = experiment.read_pool_movie(pool, cleaned=False)
        cleaned = np.empty(raw.shape, np.uint8)
        for index in range(len(raw)):
            cleaned[index] = clean_frame(raw[index], tolerance=tolerance, fill_value=fill_value)
            done += 1
            if progress is not None:
                progress(done, total)
        del raw  # release the memory map before the clean movie replaces anything
        experiment.write_pool_movie(pool, cleaned, cleaned=True)
    experiment.manifest.background = Background(tolerance=tolerance, fill_value=fill_value, cleaned=True)
    experiment.save_manifest()


def preview_clean(experiment, pool: int, frame: int, *, tolerance: float = DEFAULT_TOLERANCE):
    """(before, after) of one frame of one pool, cleaned with ``tolerance``; nothing is written."""
    tolerance = check_tolerance(tolerance)
    raw = experiment.read_pool_movie(pool, cleaned=False)
    if not 0 <= int(frame) < len(raw):
        raise ExperimentError(f"Pool {pool} has frames 0..{len(raw) - 1}, not frame {frame}.")
    before = np.array(raw[int(frame)])
    fill_value = fill_value_for(experiment, tolerance=tolerance)
    return before, clean_frame(before, tolerance=tolerance, fill_value=fill_value)


def check_tolerance(tolerance) -> float:
    """The tolerance as a number of gray levels, or ExperimentError if it is not 0..255.

    >>> check_tolerance(30.0)
    30
    """
    try:
        value = float(tolerance)
    except (TypeError, ValueError):
        value = None
    if value is None or not 0 <= value <= 255:
        shown = f"{value:g}" if value is not None else repr(tolerance)
        raise ExperimentError(f"Tolerance {shown} must be a number of gray levels from 0 to 255.")
    return int(value) if value.is_integer() else value


def _pools_with_movies(experiment) -> list[int]:
    pools = [p for p in (e.number for e in experiment.manifest.pools)
             if experiment.pool_movie_path(p, cleaned=False).exists()]
    if not pools:
        raise ExperimentError(
            f"Experiment {experiment.name!r} has no cropped pool movies to clean: crop a plate first."
        )
    return pools
