"""From cell probabilities to cell areas: threshold, post-processing, units, time.

The network gives P(cell) per pixel. :func:`masks_from_probabilities` thresholds it (the lab's
0.8) and cleans the masks frame by frame (:class:`PostProcessing`); :func:`pixel_areas` counts
the cell pixels of each frame; :func:`area_table` turns those counts into source pixels, µm² and
time using the experiment's manifest.

All operations work on whole (T, H, W) stacks at once with a structuring element that only
connects pixels within a frame, so a 144-frame pool is cleaned in one call per step instead of
one Python loop iteration per frame.

>>> probabilities = np.zeros((1, 8, 8), np.uint8)
>>> probabilities[0, 2:6, 2:6] = 250          # a 4x4 cell...
>>> probabilities[0, 3, 3] = 10               # ...with a one-pixel hole
>>> pixel_areas(masks_from_probabilities(probabilities, post=PostProcessing(min_size=0)))
array([16])
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from blasto.errors import BlastoError, ExperimentError
from blasto.masks import THRESHOLD, cell_mask, check_threshold

#: How :class:`PostProcessing` may choose the objects it keeps.
KEEP_CHOICES = ("all", "largest", "centre")

#: Smallest object kept by default, in pool-crop pixels: bubbles and debris are smaller (a
#: bubble of 7 source px radius is ~120 px in a 256 px crop of a 290 px pool); a blastocyst,
#: even collapsed, is thousands.
DEFAULT_MIN_SIZE = 150

#: Objects whose pixels come this close to the crop's centre (as a fraction of the crop's
#: size) count as "touching the pool's centre".
CENTRE_RADIUS = 0.2

# Connect pixels within a frame (8-connectivity), never across frames.
_IN_FRAME = np.zeros((3, 3, 3), bool)
_IN_FRAME[1] = True
# The background is 4-connected (the complement of 8-connected objects).
_IN_FRAME_4 = np.zeros((3, 3, 3), bool)
_IN_FRAME_4[1] = ndimage.generate_binary_structure(2, 1)


@dataclass(frozen=True)
class PostProcessing:
    """How probabilities become the measured cell mask.

    threshold: P(cell) above which a pixel is cell (the lab used 0.8).
    fill_holes: fill holes inside objects (the lab measures the hole-filled area).
    keep: "all" objects, the "largest" object of each frame, or the objects touching the
        pool's "centre" (within ``CENTRE_RADIUS`` of the crop's size from its centre).
    min_size: objects smaller than this many crop pixels are dropped (against the bubbles
        that pop out of the cell).

    >>> PostProcessing().describe()
    'threshold 0.80, fill holes, keep all objects, min size 150 px'
    >>> PostProcessing(threshold=0.5, fill_holes=False, keep="all", min_size=30).describe()
    'threshold 0.50, keep all objects, min size 30 px'
    """

    threshold: float = THRESHOLD
    fill_holes: bool = True
    keep: str = "all"  # a pool may hold two cells
    min_size: int = DEFAULT_MIN_SIZE

    def __post_init__(self):
        check_threshold(self.threshold)
        if self.keep not in KEEP_CHOICES:
            raise BlastoError(f"Unknown choice keep={self.keep!r}: use one of {', '.join(KEEP_CHOICES)}.")
        if int(self.min_size) < 0:
            raise BlastoError(f"Minimum object size {self.min_size} is negative.")

    def describe(self) -> str:
        """One line for tables, CSV exports and captions."""
        parts = [f"threshold {self.threshold:.2f}"]
        if self.fill_holes:
            parts.append("fill holes")
        parts.append({"all": "keep all objects", "largest": "keep largest object",
                      "centre": "keep objects at the centre"}[self.keep])
        if self.min_size:
            parts.append(f"min size {int(self.min_size)} px")
        return ", ".join(parts)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _as_stack(masks: np.ndarray) -> tuple[np.ndarray, bool]:
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim == 2:
        return masks[None], True
    if masks.ndim != 3:
        raise BlastoError(f"Expected a mask (H, W) or a stack of masks (T, H, W), got shape {masks.shape}.")
    return masks, False


def fill_holes(masks: np.ndarray) -> np.ndarray:
    """Fill the holes of every object, frame by frame.

    A hole is a background region (4-connected) that does not reach the frame's border.
    Labelling the background once is ~4x faster than ``ndimage.binary_fill_holes`` here.

    >>> ring = np.ones((3, 3), bool); ring[1, 1] = False
    >>> int(fill_holes(ring).sum())
    9
    """
    stack, single = _as_stack(masks)
    background, _ = ndimage.label(~stack, structure=_IN_FRAME_4)
    on_border = np.unique(np.concatenate([
        background[:, 0, :].ravel(), background[:, -1, :].ravel(),
        background[:, :, 0].ravel(), background[:, :, -1].ravel(),
    ]))
    hole = np.ones(background.max() + 1, bool)
    hole[on_border] = False
    hole[0] = False
    filled = stack | np.take(hole, background)
    return filled[0] if single else filled


def label_objects(masks: np.ndarray) -> tuple[np.ndarray, int]:
    """Label the objects of a (T, H, W) stack: 8-connected within a frame, never across frames."""
    stack, _ = _as_stack(masks)
    return ndimage.label(stack, structure=_IN_FRAME)


def _frame_of_label(labels: np.ndarray, count: int) -> np.ndarray:
    """The frame index of each label 1..count (index 0 of the result is unused)."""
    frames = np.zeros(count + 1, np.int64)
    for label, where in enumerate(ndimage.find_objects(labels), start=1):
        if where is not None:
            frames[label] = where[0].start
    return frames


def remove_small_objects(masks: np.ndarray, *, min_size: int) -> np.ndarray:
    """Drop the objects smaller than ``min_size`` pixels, frame by frame.

    >>> m = np.zeros((5, 5), bool); m[0, 0] = True; m[2:5, 2:5] = True
    >>> int(remove_small_objects(m, min_size=2).sum())
    9
    """
    stack, single = _as_stack(masks)
    if min_size <= 1:
        return np.array(masks, dtype=bool)
    labels, count = label_objects(stack)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    keep = sizes >= min_size
    keep[0] = False
    result = np.take(keep, labels)
    return result[0] if single else result


def keep_largest_object(masks: np.ndarray) -> np.ndarray:
    """Keep only the largest object of each frame (ties: the first in scan order).

    >>> m = np.zeros((5, 5), bool); m[0, 0] = True; m[2:5, 2:5] = True
    >>> int(keep_largest_object(m).sum())
    9
    """
    stack, single = _as_stack(masks)
    labels, count = label_objects(stack)
    if count == 0:
        return np.zeros_like(masks, dtype=bool)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    frames = _frame_of_label(labels, count)[1:]
    # Sort labels by (frame, -size, label): the first label of each frame is its largest.
    order = np.lexsort((np.arange(count), -sizes, frames))
    first = np.ones(count, bool)
    first[1:] = frames[order][1:] != frames[order][:-1]
    keep = np.zeros(count + 1, bool)
    keep[order[first] + 1] = True
    result = keep[labels]
    return result[0] if single else result


def _centre_disc(height: int, width: int, radius: float) -> np.ndarray:
    yy, xx = np.ogrid[:height, :width]
    centre_y, centre_x = (height - 1) / 2, (width - 1) / 2
    return (yy - centre_y) ** 2 + (xx - centre_x) ** 2 <= (radius * min(height, width)) ** 2


def keep_centre_objects(masks: np.ndarray, *, radius: float = CENTRE_RADIUS, disc=None) -> np.ndarray:
    """Keep the objects that reach within ``radius`` (fraction of the crop's size) of its centre.

    ``disc``: the centre's pixels (H, W) when ``masks`` is a window of the crop (postprocess).

    >>> m = np.zeros((10, 10), bool); m[0, 0] = True; m[4:7, 4:7] = True
    >>> int(keep_centre_objects(m).sum())
    9
    """
    stack, single = _as_stack(masks)
    labels, count = label_objects(stack)
    if disc is None:
        disc = _centre_disc(*stack.shape[1:], radius)
    touching = np.unique(labels[:, disc])
    keep = np.zeros(count + 1, bool)
    keep[touching] = True
    keep[0] = False
    result = keep[labels]
    return result[0] if single else result


def cell_window(masks: np.ndarray) -> tuple[slice, slice]:
    """The rows and columns of a (T, H, W) stack holding every True pixel of every frame, with
    one pixel of background around it where the frame allows (empty stack: an empty window).

    >>> m = np.zeros((2, 8, 8), bool); m[0, 2, 3] = m[1, 4, 5] = True
    >>> cell_window(m)
    (slice(1, 6, None), slice(2, 7, None))
    """
    stack, _ = _as_stack(masks)
    rows = np.flatnonzero(stack.any(axis=(0, 2)))
    if not len(rows):
        return slice(0, 0), slice(0, 0)
    cols = np.flatnonzero(stack.any(axis=(0, 1)))
    height, width = stack.shape[1:]
    return (slice(max(0, int(rows[0]) - 1), min(height, int(rows[-1]) + 2)),
            slice(max(0, int(cols[0]) - 1), min(width, int(cols[-1]) + 2)))


def postprocess(masks: np.ndarray, *, fill: bool = True, keep: str = "all", min_size: int = 0) -> np.ndarray:
    """Clean thresholded masks: fill holes, drop small objects, keep the chosen objects.

    Holes are filled first so that object sizes (for ``min_size`` and "largest") are the
    hole-filled sizes the lab measures.

    Only the window holding the cells (:func:`cell_window`: a fifth of a demo pool's pixels)
    is labelled: outside it every pixel is background, and the window keeps one background
    pixel around the cells, so a background region that touches the window's edge reaches the
    frame's border just as it would in the whole frame, and the result is the same.
    """
    if keep not in KEEP_CHOICES:
        raise BlastoError(f"Unknown choice keep={keep!r}: use one of {', '.join(KEEP_CHOICES)}.")
    stack, single = _as_stack(masks)
    rows, cols = cell_window(stack)
    result = np.zeros(stack.shape, bool)
    if rows.stop > rows.start:
        disc = _centre_disc(*stack.shape[1:], CENTRE_RADIUS)[rows, cols] if keep == "centre" else None
        result[:, rows, cols] = _postprocess(stack[:, rows, cols], fill=fill, keep=keep, min_size=min_size,
                                             disc=disc)
    return result[0] if single else result


def _postprocess(masks, *, fill, keep, min_size, disc) -> np.ndarray:
    cleaned = np.asarray(masks, bool)
    if fill:
        cleaned = fill_holes(cleaned)
    if min_size > 1:
        cleaned = remove_small_objects(cleaned, min_size=int(min_size))
    if keep == "largest":
        cleaned = keep_largest_object(cleaned)
    elif keep == "centre":
        cleaned = keep_centre_objects(cleaned, disc=disc)
    return cleaned


def masks_from_probabilities(probabilities: np.ndarray, *, post: PostProcessing | None = None) -> np.ndarray:
    """Threshold and post-process probabilities ((H, W) or (T, H, W)) into cell masks."""
    post = post or PostProcessing()
    masks = cell_mask(probabilities, threshold=post.threshold)
    return postprocess(masks, fill=post.fill_holes, keep=post.keep, min_size=post.min_size)


def masks_of_pools(probabilities: dict, *, post: PostProcessing | None = None,
                   workers: int | None = None) -> dict:
    """:func:`masks_from_probabilities` of several pools ({pool: (T, H, W)}), in threads.

    scipy's labelling and numpy's counting release the GIL, so pools are measured side by side
    (``workers``: default the CPU count, at most 8).
    """
    import os
    from concurrent.futures import ThreadPoolExecutor

    post = post or PostProcessing()
    pools = list(probabilities)
    workers = max(1, min(len(pools), workers or min(8, os.cpu_count() or 1)))
    if workers == 1:
        return {pool: masks_from_probabilities(np.asarray(probabilities[pool]), post=post) for pool in pools}
    with ThreadPoolExecutor(workers) as executor:
        masks = executor.map(lambda pool: masks_from_probabilities(np.asarray(probabilities[pool]), post=post), pools)
        return dict(zip(pools, masks))


def pixel_areas(masks: np.ndarray) -> np.ndarray:
    """Cell pixels per frame of a (T, H, W) mask stack (an (H, W) mask gives one value).

    >>> pixel_areas(np.ones((2, 3, 4), bool))
    array([12, 12])
    """
    stack, _ = _as_stack(masks)
    return stack.reshape(len(stack), -1).sum(axis=1)


# -- units and time ------------------------------------------------------------------------
def frame_times_s(n_frames: int, interval_s: float | None) -> np.ndarray | None:
    """Time of each frame in seconds (frame 0 is time 0), or None without an interval.

    >>> frame_times_s(3, 600.0)
    array([   0.,  600., 1200.])
    """
    if not interval_s:
        return None
    return np.arange(n_frames, dtype=float) * float(interval_s)


AREA_COLUMNS = ["pool", "frame", "time_min", "time_h", "area_px", "area_source_px", "area_um2"]


def area_table(experiment, pool: int, areas_px: np.ndarray):
    """A DataFrame with one row per frame: pool, frame, time, area in every unit available.

    ``area_px`` is in pool-crop pixels; ``area_source_px`` in pixels of the source movie (from
    the pool's box in the manifest); ``area_um2`` when the manifest has ``pixel_size_um``. Units
    that cannot be computed are NaN.
    """
    import pandas as pd

    areas_px = np.asarray(areas_px, dtype=float)
    n = len(areas_px)
    manifest = experiment.manifest
    times = frame_times_s(n, manifest.frame_interval_s)
    # A pool missing from the manifest leaves the source units unknown: NaN, never invented.
    try:
        per_crop = manifest.source_pixels_per_working_pixel(pool)
    except ExperimentError:
        per_crop = np.nan
    source = areas_px * per_crop
    pixel_size = manifest.pixel_size_um
    return pd.DataFrame({
        "pool": np.full(n, int(pool)),
        "frame": np.arange(n),
        "time_min": times / 60.0 if times is not None else np.full(n, np.nan),
        "time_h": times / 3600.0 if times is not None else np.full(n, np.nan),
        "area_px": areas_px,
        "area_source_px": source,
        "area_um2": source * float(pixel_size) ** 2 if pixel_size else np.full(n, np.nan),
    })


#: Human names of the area columns, for charts and tables.
UNIT_LABELS = {"area_px": "area (crop px)", "area_source_px": "area (source px)", "area_um2": "area (µm²)"}


def best_unit(table) -> str:
    """The most physical area column that has values: µm², else source px, else crop px."""
    for column in ("area_um2", "area_source_px", "area_px"):
        if column in table and table[column].notna().any():
            return column
    return "area_px"
