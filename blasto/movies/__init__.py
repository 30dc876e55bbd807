"""Plate movies in: GIF, TIFF, MP4/AVI and folders of frames, read one frame at a time.

Formats, chosen by the file's first bytes (then its extension), one module each:

* animated GIF (the lab's format), read with Pillow one frame at a time (:mod:`~blasto.movies.gif`);
* multi-page TIFF, 8- or 16-bit, read with tifffile page by page, uncompressed stacks straight
  from their offset in the file (:mod:`~blasto.movies.tiff`);
* MP4 / AVI (and other videos ffmpeg reads), decoded by imageio-ffmpeg as a stream of frames
  (:mod:`~blasto.movies.video`);
* a folder of numbered frames (PNG, JPG or TIF), in natural order (``frame2`` before
  ``frame10``) (:mod:`~blasto.movies.folder`).

Every frame comes out as a 2-D ``uint8`` grayscale array. RGB frames are reduced to luma with
the ITU-R 601 weights (what Pillow's ``convert("L")`` does). Frames of more than 8 bits are
mapped to 8 bits by robust percentiles (0.5 % -> 0, 99.5 % -> 255) computed once, on a sample
of frames spread over the movie, so every frame gets the same mapping and streaming stays flat
in memory (:mod:`~blasto.movies.base`).

Nothing reads the whole movie unless asked (:func:`read_movie`): a :class:`Movie` holds one
frame at a time, so memory does not grow with the number of frames.

Every problem (missing file, not a movie, truncated or corrupt file, zero frames, frames of
different sizes, a folder without frames) raises :class:`~blasto.errors.MovieError` with a
plain message that names the file.
"""

from blasto.movies.base import Movie, natural_key, sample_indices, to_gray
from blasto.movies.folder import FRAME_EXTENSIONS
from blasto.movies.open import SUPPORTED, movie_format, open_movie, read_movie
from blasto.movies.video import VIDEO_EXTENSIONS

__all__ = [
    "FRAME_EXTENSIONS", "Movie", "SUPPORTED", "VIDEO_EXTENSIONS", "movie_format", "natural_key",
    "open_movie", "read_movie", "sample_indices", "to_gray",
]
