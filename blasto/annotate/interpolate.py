"""Masks for the frames between two saved keyframes, by shape interpolation.

Each keyframe's mask becomes a signed distance map (negative inside the cell, positive outside,
zero on its border, in pixels); the maps are moved onto the centroid expected at that time
(the linear blend of the keyframes' centroids), blended linearly in time and cut at zero. A
disc of radius 10 and a concentric disc of radius 20 give, halfway, a disc of radius 15; a cell
that moves slides over (without the centroid step, a cell that moves further than its own size
would vanish halfway); a cell that appears or vanishes grows from or shrinks to nothing.
Neighbouring frames of a time-lapse pool are nearly the same, so this is close to the truth
between keyframes a few frames apart (``bench/bench_propose.py`` measures how close at 15).

>>> from blasto.annotate.interpolate import interpolate_masks
>>> yy, xx = np.mgrid[:64, :64]
>>> small, large = (yy - 32) ** 2 + (xx - 32) ** 2 <= 10 ** 2, (yy - 32) ** 2 + (xx - 32) ** 2 <= 20 ** 2
>>> (middle,) = interpolate_masks(small, large, 1)
>>> round(float(np.sqrt(middle.sum() / np.pi)), 1)
15.0
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from blasto.annotate.propose import Proposal, as_experiment, check_frames, check_pool, saved_masks
from blasto.errors import MaskError


def signed_distance(mask: np.ndarray) -> np.ndarray:
    """Signed distance to the mask's border in pixels: negative inside, positive outside.

    The border lies half a pixel outside the outermost cell pixels, so a mask cut from the
    map at zero is the mask itself. An empty mask is "far outside" everywhere (the frame's
    diagonal), a full one "far inside".

    >>> signed_distance(np.array([[False, True, True, True, False]])).tolist()
    [[0.5, -0.5, -1.5, -0.5, 0.5]]
    """
    mask = np.asarray(mask, bool)
    far = float(np.hypot(*mask.shape))
    if not mask.any():
        return np.full(mask.shape, far, np.float32)
    if mask.all():
        return np.full(mask.shape, -far, np.float32)
    inside = ndimage.distance_transform_edt(mask)
    outside = ndimage.distance_transform_edt(~mask)
    return np.where(mask, 0.5 - inside, outside - 0.5).astype(np.float32)


def interpolate_masks(first, last, count) -> list[np.ndarray]:
    """``count`` masks strictly between ``first`` and ``last``, evenly spaced in time.

    >>> a = np.zeros((1, 12), bool); a[0, 1:4] = True
    >>> b = np.zeros((1, 12), bool); b[0, 7:10] = True
    >>> [m.nonzero()[1].tolist() for m in interpolate_masks(a, b, 2)]
    [[3, 4, 5], [5, 6, 7]]
    """
    first, last = np.asarray(first, bool), np.asarray(last, bool)
    if first.shape != last.shape or first.ndim != 2:
        raise MaskError(f"Cannot interpolate between masks of shape {first.shape} and {last.shape}.")
    count = int(count)
    if count < 0:
        raise MaskError(f"Cannot interpolate {count} masks.")
    start, end = signed_distance(first), signed_distance(last)
    centre_start, centre_end = _centroid(first), _centroid(last)
    if centre_start is None or centre_end is None:  # nothing to align with: blend in place
        centre_start = centre_end = np.zeros(2)
    masks = []
    for t in np.arange(1, count + 1) / (count + 1):
        centre = (1.0 - t) * centre_start + t * centre_end
        blend = ((1.0 - t) * _moved(start, centre - centre_start)
                 + t * _moved(end, centre - centre_end))
        masks.append(blend < 0)
    return masks


def _centroid(mask: np.ndarray) -> np.ndarray | None:
    """(row, column) centre of the mask's pixels, None for an empty mask."""
    points = np.argwhere(mask)
    return points.mean(axis=0) if len(points) else None


def _moved(distance: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """A distance map moved by ``shift`` pixels (linear between pixels; edges extended)."""
    if np.allclose(shift, 0.0, atol=1e-3):
        return distance
    return ndimage.shift(distance, shift, order=1, mode="nearest")


def interpolate_pool(experiment, pool, *, frames=None) -> list[Proposal]:
    """Proposals for the unsaved frames between consecutive saved keyframes of ``pool`` (hand
    masks and imported pairs that are frames of the pool), or for only those of ``frames``.

    Frames before the first keyframe or after the last have nothing to interpolate from and
    are left out (:func:`blasto.annotate.propose.copy_previous` proposes for them).
    """
    experiment = as_experiment(experiment)
    pool = check_pool(experiment, pool)
    wanted = None if frames is None else set(check_frames(experiment, pool, frames))
    masks = saved_masks(experiment, pool)
    keys = list(masks)
    proposals = []
    for before, after in zip(keys, keys[1:]):
        between = range(before + 1, after)
        if not between or (wanted is not None and not wanted.intersection(between)):
            continue
        source = f"interpolated between frames {before} and {after}"
        for frame, mask in zip(between, interpolate_masks(masks[before], masks[after], len(between))):
            if wanted is None or frame in wanted:
                proposals.append(Proposal(pool=pool, frame=frame, mask=mask, source=source))
    return proposals
