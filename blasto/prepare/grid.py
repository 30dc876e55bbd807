"""The grid of pools on a plate: where each pool's crop box falls in the source movie.

A :class:`~blasto.store.manifest.Grid` is ``rows`` x ``cols`` equal cells inside outer bounds
``top, left, bottom, right`` (source pixels, bottom/right exclusive), kept in the manifest.
Pools are numbered from 1, row by row, as the lab counts them, so pool 5 of a 4x4 grid is the
first pool of the second row.

:func:`suggest_grid` finds the bounds from one frame: the pools are round and bright on a dark
plate, so it thresholds the frame (Otsu), takes the ``rows * cols`` largest bright blobs,
groups their centres into columns and rows, and puts the outer bounds half a pool pitch
outside the outermost centres. That centres each crop box on its pool.
"""

from __future__ import annotations

import numpy as np

from blasto.errors import BlastoError
from blasto.store.manifest import MIN_BOX, Grid


def parse_grid(text: str, *, rows: int, cols: int) -> Grid:
    """A grid from ``"top,left,bottom,right"`` (the command line's ``--grid``).

    >>> parse_grid("10, 20, 410, 420", rows=4, cols=4)
    Grid(rows=4, cols=4, top=10, left=20, bottom=410, right=420)
    """
    parts = [p.strip() for p in str(text).split(",")]
    try:
        top, left, bottom, right = (int(round(float(p))) for p in parts)
    except ValueError:
        raise BlastoError(
            f"Grid {text!r} is not four numbers 'top,left,bottom,right' (source pixels)."
        ) from None
    if bottom <= top or right <= left:
        raise BlastoError(f"Grid {text!r}: bottom must be below top and right beyond left.")
    return Grid(rows=rows, cols=cols, top=top, left=left, bottom=bottom, right=right)


def suggest_grid(frame: np.ndarray, *, rows: int = 4, cols: int = 4) -> Grid:
    """Guess the grid of ``rows`` x ``cols`` bright round pools on a dark plate.

    Falls back to the bounding box of everything bright when the pools cannot be told apart
    (pools touching each other, or fewer bright blobs than columns or rows).
    """
    from scipy import ndimage as ndi
    from skimage.filters import threshold_otsu
    from skimage.measure import label, regionprops

    frame = np.asarray(frame, dtype=np.float32)
    if frame.ndim != 2 or min(frame.shape) < MIN_BOX:
        raise BlastoError(f"Cannot suggest a grid on an image of shape {frame.shape}.")
    height, width = frame.shape
    # Work on a copy about 400 pixels across (block means): fast, and still sub-pixel exact
    # once the blob centres are scaled back, since a centre averages thousands of pixels.
    step = max(1, min(height, width) // 400)
    small = frame[: height // step * step, : width // step * step]
    small = small.reshape(height // step, step, width // step, step).mean(axis=(1, 3))
    # Smooth away camera noise and cell texture, so a pool is one blob; fill the cells' holes.
    smooth = ndi.gaussian_filter(small, sigma=1.0)
    if np.ptp(smooth) == 0:
        return Grid(rows, cols, 0, 0, height, width)
    bright = ndi.binary_fill_holes(smooth > threshold_otsu(smooth))
    blobs = sorted(regionprops(label(bright)), key=lambda r: r.area, reverse=True)
    # Pools are the big blobs; specks of debris are far smaller than the smallest pool.
    blobs = [b for b in blobs[: rows * cols] if b.area >= 0.2 * blobs[0].area] if blobs else []
    # Blob centres in source pixels: block (i, j) covers source pixels i*step .. (i+1)*step.
    centres = (np.array([b.centroid for b in blobs]).reshape(-1, 2) + 0.5) * step
    if len(blobs) >= max(rows, cols) and _distinct(centres[:, 0], rows) and _distinct(centres[:, 1], cols):
        top, bottom = _outer_bounds(centres[:, 0], rows, blobs, axis=0, step=step)
        left, right = _outer_bounds(centres[:, 1], cols, blobs, axis=1, step=step)
    else:
        ys, xs = np.nonzero(bright)
        if len(ys) == 0:
            return Grid(rows, cols, 0, 0, height, width)
        top, bottom = ys.min() * step, (ys.max() + 1) * step
        left, right = xs.min() * step, (xs.max() + 1) * step
    return Grid(
        rows=rows, cols=cols,
        top=int(np.clip(round(top), 0, height)), left=int(np.clip(round(left), 0, width)),
        bottom=int(np.clip(round(bottom), 0, height)), right=int(np.clip(round(right), 0, width)),
    )


def _groups(values: np.ndarray, n: int) -> list[np.ndarray]:
    """Split 1-D ``values`` into ``n`` groups at the ``n - 1`` widest gaps between them.

    >>> [g.tolist() for g in _groups(np.array([1, 50, 2, 52, 99]), 3)]
    [[1, 2], [50, 52], [99]]
    """
    ordered = np.sort(values)
    if n <= 1:
        return [ordered]
    cuts = np.sort(np.argsort(np.diff(ordered))[-(n - 1):]) + 1
    return np.split(ordered, cuts)


def _distinct(values: np.ndarray, n: int) -> bool:
    """Whether ``values`` fall into ``n`` groups clearly apart (gaps >> spread within groups)."""
    if n <= 1:
        return True
    if len(values) < n:
        return False
    groups = _groups(values, n)
    spread = max(np.ptp(g) for g in groups)
    gaps = min(b[0] - a[-1] for a, b in zip(groups, groups[1:]))
    return gaps > 2 * spread


def _outer_bounds(values, n, blobs, *, axis, step) -> tuple[float, float]:
    """Bounds half a pitch outside the first and last group centres along one axis."""
    centres = np.array([g.mean() for g in _groups(values, n)])
    if n > 1:
        pitch = float(np.mean(np.diff(centres)))
    else:  # one pool across: the pool's size plus a margin stands in for the pitch
        lo, hi = (0, 2) if axis == 0 else (1, 3)
        pitch = 1.2 * step * float(np.median([b.bbox[hi] - b.bbox[lo] for b in blobs]))
    return centres[0] - pitch / 2, centres[-1] + pitch / 2


def draw_grid(frame: np.ndarray, grid: Grid, *, width: int = 720) -> np.ndarray:
    """The frame as RGB, scaled down to at most ``width`` pixels across, with the grid's boxes
    and pool numbers drawn on it (the Annotate page's crop preview).

    >>> picture = draw_grid(np.zeros((100, 200), np.uint8), Grid(1, 2, 0, 0, 100, 200), width=100)
    >>> picture.shape, picture[0, 0].tolist()
    ((50, 100, 3), [255, 200, 0])
    """
    from PIL import Image, ImageDraw

    frame = np.asarray(frame, np.uint8)
    scale = min(1.0, width / frame.shape[1])
    image = Image.fromarray(frame).convert("RGB")
    image = image.resize((round(frame.shape[1] * scale), round(frame.shape[0] * scale)))
    draw = ImageDraw.Draw(image)
    line = max(2, round(3 * scale))
    for number, (top, left, bottom, right) in enumerate(grid.boxes(), start=1):
        box = [left * scale, top * scale, right * scale - 1, bottom * scale - 1]
        draw.rectangle(box, outline=(255, 200, 0), width=line)
        draw.text((box[0] + 6, box[1] + 4), str(number), fill=(255, 230, 0),
                  font_size=max(12, round(28 * scale)))
    return np.asarray(image)
