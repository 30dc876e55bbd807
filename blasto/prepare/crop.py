"""Crop a plate movie into one movie per pool, at a square working size.

:func:`crop_plate` streams the source movie once: each full-size frame is cut into its pool
boxes and resized to ``size`` x ``size`` at once, so only one full-size frame is in memory at a
time. Each pool movie is written frame by frame (an uncompressed, contiguous TIFF that
:func:`tifffile.memmap` reads back) into a temporary file beside its destination, moved
into place only when the whole movie has been read (blasto.store.atomic), so a broken movie never
leaves half a pool movie behind.

The mapping back to source pixels is kept in the manifest: each pool's ``box`` is ``(top, left,
bottom, right)`` in source pixels, so one working pixel of pool ``p`` covers ``(box_h / size) *
(box_w / size)`` source pixels (:meth:`~blasto.store.manifest.Manifest.source_pixels_per_working_pixel`).
"""

from __future__ import annotations

import contextlib
import math
import shutil

import numpy as np

from blasto.store import atomic
from blasto.errors import BlastoError, ExperimentError
from blasto.movies import Movie, open_movie
from blasto.prepare.split import default_split
from blasto.store.manifest import DEFAULT_SIZE, Background, Grid, Pool, SourceMovie

def crop_box(frame: np.ndarray, box, *, size: int, order: int = 1) -> np.ndarray:
    """Cut ``box`` (top, left, bottom, right) out of ``frame`` and resize it to ``size`` x ``size``.

    ``order=1`` is bilinear (movies), ``order=0`` nearest neighbour (masks, labels: no new
    values). Both map pixel centres the same way, so a mask cropped with ``order=0`` stays
    aligned with its frame cropped with ``order=1``. The result keeps the frame's dtype.

    >>> frame = np.arange(16, dtype=np.uint8).reshape(4, 4)
    >>> crop_box(frame, (0, 0, 4, 4), size=2, order=0)
    array([[ 5,  7],
           [13, 15]], dtype=uint8)
    """
    from PIL import Image

    frame = np.asarray(frame)
    top, left, bottom, right = (int(v) for v in box)
    if not (0 <= top < bottom <= frame.shape[0] and 0 <= left < right <= frame.shape[1]):
        raise BlastoError(
            f"Crop box {list(box)} does not fit inside a frame of {frame.shape[1]}x{frame.shape[0]} pixels."
        )
    piece = frame[top:bottom, left:right]
    if order == 0:
        # Nearest neighbour by index: source pixel whose centre is closest to each output centre.
        rows = ((np.arange(size) + 0.5) * piece.shape[0] / size).astype(int)
        cols = ((np.arange(size) + 0.5) * piece.shape[1] / size).astype(int)
        return piece[np.ix_(rows, cols)]
    if order != 1:
        raise ValueError(f"order must be 0 (nearest) or 1 (bilinear), not {order}")
    if piece.dtype == np.uint8:
        return np.asarray(Image.fromarray(piece).resize((size, size), Image.Resampling.BILINEAR))
    resized = Image.fromarray(piece.astype(np.float32)).resize((size, size), Image.Resampling.BILINEAR)
    resized = np.asarray(resized)
    if piece.dtype == bool:
        return resized >= 0.5
    if np.issubdtype(piece.dtype, np.integer):
        info = np.iinfo(piece.dtype)
        return np.clip(np.rint(resized), info.min, info.max).astype(piece.dtype)
    return resized.astype(piece.dtype)


def crop_plate(movie, experiment, *, grid: Grid, size: int = DEFAULT_SIZE, progress=None,
               overwrite: bool = False, pixel_size_um: float | None = None) -> None:
    """Crop a plate movie into the experiment's pool movies (``pools/poolNN/raw.tif``).

    ``movie`` is a path (opened and closed here) or an already open :class:`~blasto.movies.Movie`
    (read from frame 0 whatever was read before, and left open: the caller closes it), so a
    caller that has opened the movie already does not open it again (for a video, opening
    decodes the whole stream to count its frames).

    Fills the manifest's ``source``, ``grid``, ``size``, ``pools`` (number and source box),
    ``frame_interval_s``, ``pixel_size_um`` (microns per source pixel: ``pixel_size_um`` if
    given and above 0, else what the movie file says, else left as it was) and the default split, and resets ``background`` (the
    pools must be cleaned again). ``progress(done, total)`` is called after each frame.

    An experiment that already has hand masks is refused unless ``overwrite=True``: new pool
    movies would no longer match them. With ``overwrite=True`` those masks, their strokes, the
    cleaned movies and cached predictions are deleted, after the new pool movies are in place.
    """
    import tifffile

    size = int(size)
    if size < 8:
        raise BlastoError(f"Working size {size} is too small (at least 8 pixels).")
    if pixel_size_um is not None and not (math.isfinite(pixel_size_um) and pixel_size_um >= 0):
        raise BlastoError(f"Pixel size {pixel_size_um} um is not a size (give a number > 0).")
    annotated = _annotated_pools(experiment)
    if annotated and not overwrite:
        raise ExperimentError(
            f"Experiment {experiment.name!r} already has hand masks in pools "
            f"{', '.join(map(str, annotated))}; cropping again would change the pool movies "
            "under them. Crop into a new experiment, or overwrite (--overwrite on the command "
            "line; this deletes those masks)."
        )
    # An open movie stays the caller's to close. Iterating it starts at frame 0 whatever was read
    # before (the video reader starts its stream again when asked for an earlier frame).
    opened = contextlib.nullcontext(movie) if isinstance(movie, Movie) else open_movie(movie)
    with opened as movie:
        grid.check(height=movie.height, width=movie.width, source=str(movie.path))
        boxes = grid.boxes()
        numbers = list(range(1, len(boxes) + 1))
        new_folders = [experiment.pool_dir(n) for n in numbers if not experiment.pool_dir(n).exists()]
        with _removed_if_failing(new_folders), contextlib.ExitStack() as stack:
            # Each writer is closed before its temporary file replaces raw.tif (LIFO exits).
            writers = [
                stack.enter_context(tifffile.TiffWriter(stack.enter_context(
                    atomic.atomic_path(experiment.pool_dir(number) / "raw.tif", suffix=".tif")
                )))
                for number in numbers
            ]
            for index, frame in enumerate(movie):
                for writer, box in zip(writers, boxes):
                    # Frame after frame into one uncompressed series: memory-mappable (T, H, W).
                    writer.write(crop_box(frame, box, size=size, order=1), contiguous=True,
                                 photometric="minisblack")
                if progress is not None:
                    progress(index + 1, movie.n_frames)
        source = SourceMovie(
            path=str(movie.path.resolve()), n_frames=movie.n_frames, height=movie.height,
            width=movie.width, frame_interval_s=movie.frame_interval_s,
            pixel_size_um=movie.pixel_size_um,
        )
    _forget_derived(experiment, numbers)
    manifest = experiment.manifest
    manifest.source, manifest.grid, manifest.size = source, grid, size
    manifest.pools = [Pool(n, tuple(b)) for n, b in zip(numbers, boxes)]
    manifest.frame_interval_s = source.frame_interval_s
    # Given (> 0) wins, else what the movie says; a movie that says nothing keeps the old value.
    manifest.pixel_size_um = pixel_size_um or source.pixel_size_um or manifest.pixel_size_um
    manifest.split = default_split(numbers)
    manifest.background = Background()
    experiment.save_manifest()


@contextlib.contextmanager
def _removed_if_failing(folders):
    """On an exception, remove the (empty) pool folders this crop created."""
    try:
        yield
    except BaseException:
        for folder in folders:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _annotated_pools(experiment) -> list[int]:
    """Pools of the experiment with at least one saved hand mask."""
    pools_dir = experiment.path / "pools"
    if not pools_dir.is_dir():
        return []
    numbers = sorted(n for n in map(_pool_number, pools_dir.iterdir()) if n is not None)
    return [n for n in numbers if experiment.annotated_frames(n)]


def _forget_derived(experiment, numbers) -> None:
    """Delete what was made from the old pool movies: masks, strokes, clean movies, truth,
    predictions, and the folders of pools the new grid no longer has."""
    pools_dir = experiment.path / "pools"
    for folder in pools_dir.iterdir():
        number = _pool_number(folder)
        if number is None:
            continue
        if number not in numbers:
            shutil.rmtree(folder)
            continue
        for path in (experiment.mask_path(number, 0).parent, experiment.strokes_path(number, 0).parent):
            shutil.rmtree(path, ignore_errors=True)
        for path in (experiment.pool_movie_path(number, cleaned=True), experiment.truth_path(number)):
            path.unlink(missing_ok=True)
    shutil.rmtree(experiment.predictions_dir(), ignore_errors=True)


def _pool_number(folder) -> int | None:
    """The pool number of a ``poolNN`` folder, or None for anything else in ``pools/``.

    >>> from pathlib import Path
    >>> _pool_number(Path("pools/pool07")), _pool_number(Path("pools/notes")), _pool_number(Path("pool"))
    (7, None, None)
    """
    name = folder.name
    return int(name[4:]) if name.startswith("pool") and name[4:].isdigit() else None
