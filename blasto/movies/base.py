"""What every movie reader shares: the :class:`Movie` API, gray and 8-bit frames, frame order.

A reader subclasses :class:`Movie` and implements two methods: ``_open()`` reads the header
(sets ``n_frames``, ``height``, ``width`` and, when the file says, ``frame_interval_s`` and
``pixel_size_um``; hands what it opens to the ``_held`` exit stack) and ``_raw_frame(index)``
decodes one frame. :class:`Movie` does the rest the same way for every format: it refuses a
movie without frames, fixes the 8-bit mapping of wide frames once, checks every frame's size,
and releases the file, also when opening fails half-way.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import numpy as np

from blasto.errors import MovieError, first_line

#: Percentiles that map frames of more than 8 bits to 0 and 255.
LOW_PERCENTILE, HIGH_PERCENTILE = 0.5, 99.5
#: How many frames, spread over the movie, the percentiles are computed on.
SAMPLE_FRAMES = 16
#: The largest frame a movie may declare (8192 x 8192): a header that declares more is
#: refused before anything is decoded, so a damaged or hostile size field cannot exhaust memory.
MAX_FRAME_PIXELS = 8192 * 8192

_LUMA = np.array([0.299, 0.587, 0.114])


def to_gray(frame: np.ndarray) -> np.ndarray:
    """Reduce an RGB(A) frame to one channel (ITU-R 601 luma); 2-D frames pass through.

    The result keeps the input's range but not always its type (luma of uint8 is float).

    >>> to_gray(np.array([[[255, 255, 255], [255, 0, 0]]], dtype=np.uint8)).round(1)
    array([[255. ,  76.2]])
    """
    frame = np.asarray(frame)
    if frame.ndim == 3 and frame.shape[-1] in (3, 4):
        return frame[..., :3] @ _LUMA
    if frame.ndim == 3 and frame.shape[-1] in (1, 2):  # gray (+ alpha)
        return frame[..., 0]
    return frame


def natural_key(name: str) -> list:
    """Sort key that orders embedded numbers by value: ``frame2`` before ``frame10``.

    >>> sorted(["f10.png", "f2.png", "f1.png"], key=natural_key)
    ['f1.png', 'f2.png', 'f10.png']
    """
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def sample_indices(n_frames: int, count: int = SAMPLE_FRAMES) -> list[int]:
    """Up to ``count`` frame indices spread evenly over the movie (first and last included).

    Shared with :mod:`blasto.prepare.clean`, which samples pool movies the same way.

    >>> sample_indices(100, 4)
    [0, 33, 66, 99]
    """
    return sorted({int(i) for i in np.linspace(0, n_frames - 1, min(count, n_frames))})


class ToUint8:
    """Map frames of any type to uint8: uint8 passes through, anything else by fixed levels.

    >>> ToUint8(100.0, 200.0)(np.array([[50, 150, 250]], np.uint16))
    array([[  0, 128, 255]], dtype=uint8)
    """

    def __init__(self, low: float | None = None, high: float | None = None):
        self.low, self.high = low, high

    @classmethod
    def from_sample(cls, frames) -> "ToUint8":
        """Levels from the robust percentiles of a sample of (gray) frames."""
        values = np.concatenate([np.asarray(f).ravel()[::7].astype(np.float64) for f in frames])
        values = values[np.isfinite(values)]  # NaN and inf in float frames carry no level
        if not values.size:
            return cls(0.0, 1.0)
        low, high = np.percentile(values, [LOW_PERCENTILE, HIGH_PERCENTILE])
        if high <= low:  # a flat movie: keep it flat instead of dividing by zero
            high = low + 1.0
        return cls(float(low), float(high))

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        frame = to_gray(frame)
        if frame.dtype == np.uint8:
            return frame
        if self.low is None:  # 8-bit data that arrived as float (luma of RGB)
            return np.clip(np.rint(frame), 0, 255).astype(np.uint8)
        frame = np.asarray(frame, np.float32)
        # NaN is black, +-inf the ends of the range; huge floats overflow to inf, then clip.
        frame = np.nan_to_num(frame, nan=self.low, posinf=self.high, neginf=self.low)
        with np.errstate(over="ignore"):
            scaled = (frame - self.low) * (255.0 / (self.high - self.low))
        return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


@contextlib.contextmanager
def refused(message: str, errors: tuple):
    """Raise ``errors`` from inside as one MovieError: ``message (the error's first line).``

    Libraries raise many types for a broken file; the user gets one plain message that names
    it. A MovieError from inside passes through as it is.
    """
    try:
        yield
    except MovieError:
        raise
    except errors as exc:
        raise MovieError(f"{message} ({first_line(exc)}).") from None


class Movie:
    """An open movie: its size, frame interval and pixel size, frames read one at a time.

    Use :func:`blasto.movies.open_movie` rather than this class. Attributes: ``path``,
    ``n_frames``, ``height``, ``width``, ``frame_interval_s`` (seconds between frames),
    ``pixel_size_um`` (microns per pixel; TIFF only) -- both None when the file does not say --
    and ``format`` (``"gif"``, ``"tiff"``, ``"video"`` or ``"folder"``).
    """

    format = "movie"

    def __init__(self, path):
        self.path = Path(path)
        self.n_frames = 0
        self.height = 0
        self.width = 0
        self.frame_interval_s: float | None = None
        self.pixel_size_um: float | None = None
        self._to_uint8 = ToUint8()
        self._held = contextlib.ExitStack()  # what the reader keeps open, closed by close()
        # Whatever refuses the movie (the reader's checks, zero frames, a bad frame while
        # sampling the levels) releases what the reader had opened so far.
        try:
            wide = self._open()
            self._refuse_if_empty()
            if wide:
                sample = [to_gray(self._raw_frame(i)) for i in sample_indices(self.n_frames)]
                self._to_uint8 = ToUint8.from_sample(sample)
        except BaseException:
            self.close()
            raise

    def _open(self) -> bool:  # pragma: no cover - abstract
        """Read the header and set the attributes; True when frames have more than 8 bits."""
        raise NotImplementedError

    def _raw_frame(self, index: int) -> np.ndarray:  # pragma: no cover - abstract
        """Frame ``index`` as stored (any type, gray or RGB), or a MovieError."""
        raise NotImplementedError

    def _refuse_if_empty(self) -> None:
        """A MovieError when the header says there are no frames, frames without pixels, or
        frames larger than :data:`MAX_FRAME_PIXELS`."""
        if self.n_frames <= 0 or self.height <= 0 or self.width <= 0:
            raise MovieError(f"{self.path}: the movie has zero frames.")
        if self.height * self.width > MAX_FRAME_PIXELS:
            raise MovieError(
                f"{self.path}: the header declares frames of {self.width}x{self.height} pixels, "
                f"more than blasto reads ({MAX_FRAME_PIXELS:,} pixels); the file is damaged, or "
                "reduce the movie's size."
            )

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (from 0) as a (height, width) uint8 array."""
        index = int(index)
        if not 0 <= index < self.n_frames:
            raise IndexError(f"{self.path}: frame {index} is out of range 0..{self.n_frames - 1}.")
        frame = self._to_uint8(self._raw_frame(index))
        if frame.shape != (self.height, self.width):
            raise MovieError(
                f"{self.path}: frames of different sizes (frame {index} is "
                f"{frame.shape[1] if frame.ndim > 1 else '?'}x{frame.shape[0]}, frame 0 is "
                f"{self.width}x{self.height})."
            )
        return frame

    def __iter__(self):
        """Frames in order, one at a time."""
        for index in range(self.n_frames):
            yield self.frame(index)

    def __len__(self) -> int:
        return self.n_frames

    def close(self) -> None:
        """Release the file (safe to call twice)."""
        self._held.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return (
            f"<{type(self).__name__} {str(self.path)!r}: {self.n_frames} frames of "
            f"{self.width}x{self.height}, interval {self.frame_interval_s} s>"
        )
