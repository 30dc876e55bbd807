"""Results that open as they are in Fiji and napari: OME-TIFF mask stacks and a tidy areas CSV.

:func:`write_ome_masks` writes one pool's measured masks as an OME-TIFF stack (axes TYX,
uint8, 255 = cell, 0 = background: a label image, the opposite of the lab's PNG polarity),
with the physical pixel size of the pool crop and the frame interval in its OME-XML, so
Fiji (Bio-Formats) and napari show the right scale bar and time. :func:`tidy_areas` is the
areas as one row per (plate,) pool and frame with plain columns: numbers, short words and
``NaN`` for unknowns, no field holding a comma, so Fiji's "Open" reads it as a results table
and pandas/napari plugins read it without options.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from blasto.store import atomic

#: Columns of the tidy areas CSV, in order (``plate`` only when there is one).
TIDY_COLUMNS = ["plate", "pool", "frame", "time_min", "time_h", "area_px", "area_source_px", "area_um2",
                "model", "threshold", "fill_holes", "keep", "min_size"]


def pool_pixel_size_um(manifest, pool: int) -> tuple[float, float] | None:
    """(y, x) size in µm of one pixel of a pool's crop, or None without ``pixel_size_um``.

    >>> from blasto.store.manifest import Manifest, Pool
    >>> m = Manifest.new("a", size=256); m.pools = [Pool(1, (0, 0, 512, 384))]
    >>> m.pixel_size_um = 1.5
    >>> pool_pixel_size_um(m, 1)
    (3.0, 2.25)
    """
    if not manifest.pixel_size_um:
        return None
    top, left, bottom, right = manifest.pool(pool).box
    size = float(manifest.size)
    return ((bottom - top) / size * manifest.pixel_size_um, (right - left) / size * manifest.pixel_size_um)


def write_ome_masks(path, masks: np.ndarray, *, pixel_size_um: tuple[float, float] | None = None,
                    frame_interval_s: float | None = None) -> None:
    """Write masks (T, H, W) bool, True = cell, as an OME-TIFF (TYX, uint8 255 = cell), atomically.

    >>> import tempfile, pathlib, tifffile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "pool01.ome.tif"
    >>> write_ome_masks(path, np.ones((2, 4, 4), bool), pixel_size_um=(2.0, 2.0), frame_interval_s=600)
    >>> with tifffile.TiffFile(path) as tif:
    ...     tif.is_ome, tif.series[0].axes, tif.series[0].shape, int(tif.asarray().max())
    (True, 'TYX', (2, 4, 4), 255)
    """
    import tifffile

    stack = np.asarray(masks, bool).astype(np.uint8) * np.uint8(255)
    metadata = {"axes": "TYX", "Name": "cell mask (255 = cell)"}
    if pixel_size_um:
        metadata.update(PhysicalSizeY=float(pixel_size_um[0]), PhysicalSizeYUnit="µm",
                        PhysicalSizeX=float(pixel_size_um[1]), PhysicalSizeXUnit="µm")
    if frame_interval_s:
        metadata.update(TimeIncrement=float(frame_interval_s), TimeIncrementUnit="s")
    # The temporary name must end in .ome.tif: tifffile writes OME-XML only for such names
    # when ome is not forced, and Bio-Formats sniffs the suffix; ome=True forces it anyway.
    with atomic.atomic_path(path, suffix=".ome.tif") as tmp:
        tifffile.imwrite(tmp, stack, ome=True, photometric="minisblack", metadata=metadata)


def tidy_areas(table: pd.DataFrame, *, plate: str | None = None) -> pd.DataFrame:
    """The areas table (:func:`blasto.review.charts.export_areas`) in the tidy CSV's columns.

    >>> t = pd.DataFrame({"pool": [1], "frame": [0], "area_px": [5.0], "model": ["demo"],
    ...                   "post_processing": ["threshold 0.80, fill holes"]})
    >>> tidy_areas(t, plate="p1").columns.tolist()
    ['plate', 'pool', 'frame', 'area_px', 'model']
    """
    table = table.copy()
    if plate is not None:
        table.insert(0, "plate", plate)
    return table[[c for c in TIDY_COLUMNS if c in table.columns]]


def write_tidy_csv(path, table: pd.DataFrame) -> None:
    """Write a tidy table as CSV (unknowns as ``NaN``, which Fiji and pandas read as numbers)."""
    atomic.write_text(path, table.to_csv(index=False, na_rep="NaN"))
