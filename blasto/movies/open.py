"""Opening a movie: the format from the file's first bytes (then its extension), then its reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from blasto.errors import MovieError
from blasto.movies.base import Movie
from blasto.movies.folder import FolderMovie
from blasto.movies.gif import GifMovie
from blasto.movies.tiff import TiffMovie
from blasto.movies.video import VIDEO_EXTENSIONS, VideoMovie

SUPPORTED = "an animated GIF, a multi-page TIFF, an MP4 or AVI video, or a folder of numbered frames"
#: The reader of each format :func:`movie_format` names.
READERS = {reader.format: reader for reader in (GifMovie, TiffMovie, VideoMovie, FolderMovie)}


def movie_format(path: Path) -> str:
    """'gif', 'tiff', 'video', 'folder' or 'image' from the first bytes, then the extension."""
    if path.is_dir():
        return "folder"
    with open(path, "rb") as handle:
        head = handle.read(16)
    if not head:
        raise MovieError(f"{path}: the file is empty, not a movie.")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[:8] == b"\x89PNG\r\n\x1a\n" or head[:3] == b"\xff\xd8\xff":
        return "image"
    is_video_container = head[4:8] == b"ftyp" or head[:4] in (b"RIFF", b"\x1aE\xdf\xa3")
    if is_video_container or path.suffix.lower() in VIDEO_EXTENSIONS:
        return "video"
    raise MovieError(f"{path}: not a movie (expected {SUPPORTED}).")


def open_movie(path) -> Movie:
    """Open a movie (file or folder of frames) for streaming; raise MovieError if unusable.

    Use it as a context manager::

        with open_movie("plate.gif") as movie:
            for frame in movie:        # (height, width) uint8, one at a time
                ...
    """
    path = Path(path)
    if not path.exists():
        raise MovieError(f"{path}: no such file or folder.")
    kind = movie_format(path)
    if kind == "image":
        raise MovieError(
            f"{path}: a single image, not a movie (put numbered frames in a folder, or use "
            f"{SUPPORTED})."
        )
    return READERS[kind](path)


def read_movie(path) -> np.ndarray:
    """The whole movie as a (T, H, W) uint8 array (loads every frame: for small movies)."""
    with open_movie(path) as movie:
        frames = np.empty((movie.n_frames, movie.height, movie.width), np.uint8)
        for index, frame in enumerate(movie):
            frames[index] = frame
    return frames
