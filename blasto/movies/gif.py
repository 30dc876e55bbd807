"""Animated GIF (the lab's format), read with Pillow one frame at a time (``seek``)."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from blasto.errors import MovieError
from blasto.movies.base import Movie, refused

# What Pillow raises for a broken GIF: besides the usual, its GIF decoder raises IndexError and
# struct.error on truncated blocks, and DecompressionBombError on a huge declared screen.
_BROKEN = (OSError, EOFError, ValueError, SyntaxError, IndexError, struct.error, MemoryError,
           Image.DecompressionBombError)


class GifMovie(Movie):
    """Animated GIF via Pillow: ``seek`` composes each frame onto the logical screen."""

    format = "gif"

    def _open(self) -> bool:
        # Pillow warns of sizes that blasto's own limit (MAX_FRAME_PIXELS) refuses anyway.
        with refused(f"{self.path}: the GIF is truncated or corrupt", _BROKEN), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            self._image = self._held.enter_context(Image.open(self.path))
            self.n_frames = 1
            self.width, self.height = self._image.size
            self._refuse_if_empty()  # a huge declared screen, before any frame is decoded
            self.n_frames = int(getattr(self._image, "n_frames", 1))
            duration = self._image.info.get("duration")
        if not _ends_with_gif_trailer(self.path):
            raise MovieError(f"{self.path}: the GIF is truncated (its end marker is missing).")
        # A GIF stores a display duration (ms) per frame: that is all the file says.
        self.frame_interval_s = duration / 1000.0 if duration else None
        return False

    def _raw_frame(self, index):
        with refused(f"{self.path}: the GIF is truncated or corrupt at frame {index}", _BROKEN):
            self._image.seek(index)
            return np.asarray(self._image.convert("L"))


def _ends_with_gif_trailer(path: Path) -> bool:
    """A complete GIF ends with the trailer byte ';' (0x3B)."""
    with open(path, "rb") as handle:
        handle.seek(-1, 2)
        return handle.read(1) == b";"
