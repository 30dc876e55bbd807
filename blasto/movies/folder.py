"""A folder of numbered frames (PNG, JPG or TIF), in natural order (``frame2`` before ``frame10``)."""

from __future__ import annotations

import numpy as np

from blasto.errors import MovieError
from blasto.movies.base import Movie, natural_key, refused

#: Extensions of single frames in a folder of numbered frames.
FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
# What Pillow raises for a broken image.
_BROKEN = (OSError, ValueError, SyntaxError)
# Image modes of more than 8 bits a channel: mapped to 8 bits by the movie's percentiles.
_WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "F")


class FolderMovie(Movie):
    """A folder of numbered frames, in natural order; every frame must have frame 0's size."""

    format = "folder"

    def _open(self) -> bool:
        from PIL import Image

        self.files = sorted(
            (f for f in self.path.iterdir()
             if f.is_file() and f.suffix.lower() in FRAME_EXTENSIONS and not f.name.startswith(".")),
            key=lambda f: natural_key(f.name),
        )
        if not self.files:
            raise MovieError(
                f"{self.path}: the folder has no frames (expected numbered "
                f"{', '.join(e.lstrip('.').upper() for e in FRAME_EXTENSIONS[:4])} files)."
            )
        self.n_frames = len(self.files)
        wide = False
        sizes = {}
        for file in self.files:  # headers only: cheap, and catches a stray file up front
            with refused(f"{file}: not a readable image", _BROKEN), Image.open(file) as image:
                sizes.setdefault(image.size, file)
                wide = wide or image.mode in _WIDE_MODES
        if len(sizes) > 1:
            described = ", ".join(f"{w}x{h} ({f.name})" for (w, h), f in sizes.items())
            raise MovieError(f"{self.path}: frames of different sizes: {described}.")
        self.width, self.height = next(iter(sizes))
        return wide

    def _raw_frame(self, index):
        from PIL import Image

        file = self.files[index]
        with refused(f"{file}: the frame is truncated or corrupt", _BROKEN), Image.open(file) as image:
            if image.mode in ("P", "PA", "LA", "RGBA", "CMYK", "YCbCr", "1"):
                image = image.convert("RGB")
            return np.asarray(image)
