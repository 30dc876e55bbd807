"""Multi-page TIFF, 8- or 16-bit, read with tifffile page by page.

Uncompressed stacks are read straight from their offset in the file. The frame interval
comes from ImageJ's ``finterval`` (or tifffile's own metadata), the pixel size from ImageJ's
``unit`` and the XResolution/YResolution tags.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
from fractions import Fraction

import numpy as np

from blasto.errors import MovieError
from blasto.movies.base import Movie, refused

#: Microns in one ImageJ ``unit``, exactly (ImageJ writes micron, um or the micro sign).
MICRONS_PER_UNIT = {
    **dict.fromkeys(("um", "\u00b5m", "\u03bcm", "\\u00b5m", "micron", "microns", "micrometer",
                     "micrometre", "micrometers", "micrometres"), Fraction(1)),
    **dict.fromkeys(("nm", "nanometer", "nanometre", "nanometers", "nanometres"), Fraction(1, 1000)),
    **dict.fromkeys(("mm", "millimeter", "millimetre", "millimeters", "millimetres"), Fraction(1000)),
}
# ImageJ's ``tunit`` in seconds; anything else is taken as seconds.
_SECONDS_PER_TUNIT = {"ms": 1e-3, "msec": 1e-3, "min": 60.0, "h": 3600.0, "hour": 3600.0,
                      "hours": 3600.0}


class TiffMovie(Movie):
    """Multi-page TIFF via tifffile; uncompressed stacks are read at their offset in the file."""

    format = "tiff"

    def _open(self) -> bool:
        import tifffile

        # tifffile raises many types for broken files, and reads past a broken page table with
        # a logged warning and fewer frames.
        with refused(f"{self.path}: the TIFF is truncated or corrupt", Exception), \
                _tifffile_complaints() as complaints:
            self._tif = self._held.enter_context(tifffile.TiffFile(self.path))
            series = self._tif.series[0]
            shape, axes = tuple(series.shape), series.axes
        if complaints:
            raise MovieError(f"{self.path}: the TIFF is truncated or corrupt ({complaints[0]}).")
        # Frames written one by one (one series each) are frames too, if they agree in size.
        several = len(self._tif.series) > 1
        if several:
            sizes = {_yx(s.shape, s.axes) for s in self._tif.series if s.ndim >= 2}
            if len(sizes) > 1:
                described = ", ".join(f"{w}x{h}" for h, w in sorted(sizes))
                raise MovieError(f"{self.path}: the TIFF holds frames of different sizes ({described}).")
        # The last two image axes are Y and X, optionally followed by samples (RGB).
        samples = 1
        if axes.endswith("S"):
            samples, shape, axes = shape[-1], shape[:-1], axes[:-1]
        if len(shape) < 2:
            raise MovieError(f"{self.path}: the TIFF holds no image (shape {series.shape}).")
        self.height, self.width = int(shape[-2]), int(shape[-1])
        self.n_frames = int(np.prod(shape[:-2], dtype=np.int64))
        self._pages = series.pages
        if several:
            self._pages = [page for one in self._tif.series for page in one.pages]
            self.n_frames = len(self._pages)
        self._refuse_if_empty()  # before the size checks below, which a 0-frame file fails too
        self._frame_shape = (self.height, self.width) + ((samples,) if samples > 1 else ())
        self._dtype = np.dtype(series.dtype).newbyteorder(self._tif.byteorder)
        self._frame_bytes = int(np.prod(self._frame_shape)) * self._dtype.itemsize
        # Offset of an uncompressed, contiguous stack; None when compressed or scattered.
        self._offset = None if several else series.dataoffset
        self._handle = self._tif.filehandle
        if self._offset is not None:
            needed = self._offset + self.n_frames * self._frame_bytes
            if self._handle.size < needed:
                raise MovieError(
                    f"{self.path}: the TIFF is truncated ({self._handle.size} bytes, "
                    f"{self.n_frames} frames need {needed})."
                )
        elif len(self._pages) != self.n_frames:
            raise MovieError(
                f"{self.path}: the TIFF's {self.n_frames} frames are not stored one per page; "
                "save it as an uncompressed or page-per-frame stack."
            )
        self.frame_interval_s = self._interval()
        self.pixel_size_um = pixel_size_um(self._tif)
        return self._dtype.itemsize > 1 or self._dtype.kind == "f"

    def _interval(self) -> float | None:
        """ImageJ's ``finterval`` (in ``tunit``), or ``frame_interval_s`` in tifffile metadata."""
        meta = self._tif.imagej_metadata or {}
        if meta.get("finterval"):
            scale = _SECONDS_PER_TUNIT.get(str(meta.get("tunit", "s")).lower(), 1.0)
            return float(meta["finterval"]) * scale
        for shaped in self._tif.shaped_metadata or ():
            if shaped.get("frame_interval_s"):
                return float(shaped["frame_interval_s"])
        return None

    def _raw_frame(self, index):
        with refused(f"{self.path}: the TIFF is truncated or corrupt at frame {index}", Exception):
            if self._offset is not None:
                self._handle.seek(self._offset + index * self._frame_bytes)
                data = self._handle.read(self._frame_bytes)
                if len(data) != self._frame_bytes:
                    raise MovieError(f"{self.path}: the TIFF is truncated at frame {index}.")
                frame = np.frombuffer(data, self._dtype).reshape(self._frame_shape)
                return frame.astype(self._dtype.newbyteorder("="), copy=False)
            frame = self._pages[index].asarray()
        if frame.ndim == 3 and frame.shape[0] in (3, 4) and frame.shape[-1] not in (3, 4):
            frame = np.moveaxis(frame, 0, -1)  # planar RGB
        return frame


def pixel_size_um(tif) -> float | None:
    """Microns per pixel of an open :class:`tifffile.TiffFile`, or None when it does not say.

    The pixel size is ImageJ's ``unit`` (um, nm or mm) over the first page's XResolution and
    YResolution (pixels per unit). Without a length unit (a plain TIFF's 72 dpi says nothing
    about a microscope) there is no pixel size. Pixels that are not square get the side of the
    square of the same area, so areas in square microns stay right.
    """
    unit = str((tif.imagej_metadata or {}).get("unit", "")).strip().lower()
    microns = MICRONS_PER_UNIT.get(unit)
    if microns is None:
        return None
    tags = tif.pages[0].tags
    sides = []
    for name in ("XResolution", "YResolution"):
        tag = tags.get(name)
        numerator, denominator = tag.value if tag is not None else (0, 0)
        if numerator <= 0 or denominator <= 0:
            return None
        sides.append(Fraction(denominator, numerator) * microns)  # exact: 1.5 stays 1.5
    x, y = sides
    return float(x) if x == y else math.sqrt(x * y)


@contextlib.contextmanager
def _tifffile_complaints():
    """Collect (and keep off the console) what tifffile logs about a broken file."""
    logger = logging.getLogger("tifffile")
    complaints: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            # Drop tifffile's "<tifffile.TiffFile 'x.tif'>" prefix: the message names the file.
            complaints.append(re.sub(r"<tifffile[^>]*>\s*", "", record.getMessage()))

    handler, propagate = Collect(level=logging.WARNING), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield complaints
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _yx(shape, axes) -> tuple[int, int]:
    """(height, width) of a tifffile series' frames (the axes before any samples axis)."""
    if axes.endswith("S"):
        shape = shape[:-1]
    return int(shape[-2]), int(shape[-1])
