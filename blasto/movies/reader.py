"""Movie input: one way to read every plate movie the lab may bring, frame by frame.

Formats, chosen by the file's first bytes (then its extension):

* animated GIF (the lab's format), read with Pillow one frame at a time (``seek``);
* multi-page TIFF, 8- or 16-bit, read with tifffile page by page (uncompressed stacks are read
  straight from their offset in the file);
* MP4 / AVI (and other videos ffmpeg reads), decoded by imageio-ffmpeg as a stream of frames;
* a folder of numbered frames (PNG, JPG or TIF), in natural order (``frame2`` before
  ``frame10``).

Every frame comes out as a 2-D ``uint8`` grayscale array. RGB frames are reduced to luma with
the ITU-R 601 weights (what Pillow's ``convert("L")`` does). Frames of more than 8 bits are
mapped to 8 bits by robust percentiles (0.5 % -> 0, 99.5 % -> 255) computed once, on a sample
of frames spread over the movie, so every frame gets the same mapping and streaming stays flat
in memory.

Nothing reads the whole movie unless asked (:func:`read_movie`): a :class:`Movie` holds one
frame at a time, so memory does not grow with the number of frames.

Every problem (missing file, not a movie, truncated or corrupt file, zero frames, frames of
different sizes, a folder without frames) raises :class:`~blasto.errors.MovieError` with a
plain message that names the file.
"""

from __future__ import annotations

import contextlib
import logging
import re
from pathlib import Path

import numpy as np

from blasto.errors import MovieError

#: Extensions of single frames in a folder of numbered frames.
FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
#: Extensions handed to ffmpeg when the first bytes are not GIF or TIFF.
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".wmv", ".mpg", ".mpeg", ".webm")
#: Percentiles that map frames of more than 8 bits to 0 and 255.
LOW_PERCENTILE, HIGH_PERCENTILE = 0.5, 99.5
#: How many frames, spread over the movie, the percentiles are computed on.
SAMPLE_FRAMES = 16

_LUMA = np.array([0.299, 0.587, 0.114])
SUPPORTED = "an animated GIF, a multi-page TIFF, an MP4 or AVI video, or a folder of numbered frames"


# -- helpers shared by every reader ------------------------------------------------------------
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


class _ToUint8:
    """Map frames of any type to uint8: uint8 passes through, anything else by fixed levels."""

    def __init__(self, low: float | None = None, high: float | None = None):
        self.low, self.high = low, high

    @classmethod
    def from_sample(cls, frames) -> "_ToUint8":
        """Levels from the robust percentiles of a sample of (gray) frames."""
        values = np.concatenate([np.asarray(f).ravel()[::7].astype(np.float64) for f in frames])
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
        scaled = (np.asarray(frame, np.float32) - self.low) * (255.0 / (self.high - self.low))
        return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def sample_indices(n_frames: int, count: int = SAMPLE_FRAMES) -> list[int]:
    """Up to ``count`` frame indices spread evenly over the movie (first and last included).

    Shared with :mod:`blasto.prepare.clean`, which samples pool movies the same way.

    >>> sample_indices(100, 4)
    [0, 33, 66, 99]
    """
    return sorted({int(i) for i in np.linspace(0, n_frames - 1, min(count, n_frames))})


# -- the Movie API -----------------------------------------------------------------------------
class Movie:
    """An open movie: its size and frame interval, frames read one at a time.

    Use :func:`open_movie` rather than this class. Attributes: ``path``, ``n_frames``,
    ``height``, ``width``, ``frame_interval_s`` (seconds between frames, or None when the file
    does not say) and ``format`` (``"gif"``, ``"tiff"``, ``"video"`` or ``"folder"``).
    """

    format = "movie"

    def __init__(self, path: Path):
        self.path = Path(path)
        self.n_frames = 0
        self.height = 0
        self.width = 0
        self.frame_interval_s: float | None = None
        self._to_uint8 = _ToUint8()

    # Readers implement _open() (set the attributes) and _raw_frame(index).
    def _raw_frame(self, index: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _finish_open(self, *, wide: bool) -> None:
        """Check the frame count and, for frames of more than 8 bits, fix the levels."""
        if self.n_frames <= 0:
            raise MovieError(f"{self.path}: the movie has zero frames.")
        if wide:
            sample = [to_gray(self._raw_frame(i)) for i in sample_indices(self.n_frames)]
            self._to_uint8 = _ToUint8.from_sample(sample)

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (from 0) as a (height, width) uint8 array."""
        index = int(index)
        if not 0 <= index < self.n_frames:
            raise IndexError(f"{self.path}: frame {index} is out of range 0..{self.n_frames - 1}.")
        return self._checked(self._to_uint8(self._raw_frame(index)), index)

    def __iter__(self):
        """Frames in order, one at a time."""
        for index in range(self.n_frames):
            yield self.frame(index)

    def __len__(self) -> int:
        return self.n_frames

    def _checked(self, frame: np.ndarray, index: int) -> np.ndarray:
        if frame.shape != (self.height, self.width):
            raise MovieError(
                f"{self.path}: frames of different sizes (frame {index} is "
                f"{frame.shape[1] if frame.ndim > 1 else '?'}x{frame.shape[0]}, frame 0 is "
                f"{self.width}x{self.height})."
            )
        return frame

    def close(self) -> None:
        """Release the file (safe to call twice)."""

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


class _GifMovie(Movie):
    """Animated GIF via Pillow: ``seek`` composes each frame onto the logical screen."""

    format = "gif"

    def __init__(self, path):
        super().__init__(path)
        from PIL import Image

        try:
            self._image = Image.open(self.path)
            self.n_frames = int(getattr(self._image, "n_frames", 1))
            self.width, self.height = self._image.size
            duration = self._image.info.get("duration")
        except (OSError, EOFError, ValueError, SyntaxError) as exc:
            raise MovieError(f"{self.path}: the GIF is truncated or corrupt ({exc}).") from None
        if not _ends_with_gif_trailer(self.path):
            self._image.close()
            raise MovieError(f"{self.path}: the GIF is truncated (its end marker is missing).")
        # A GIF stores a display duration (ms) per frame: that is all the file says.
        self.frame_interval_s = duration / 1000.0 if duration else None
        self._finish_open(wide=False)

    def _raw_frame(self, index):
        try:
            self._image.seek(index)
            return np.asarray(self._image.convert("L"))
        except (OSError, EOFError, ValueError, SyntaxError) as exc:
            raise MovieError(
                f"{self.path}: the GIF is truncated or corrupt at frame {index} ({exc})."
            ) from None

    def close(self):
        self._image.close()


class _TiffMovie(Movie):
    """Multi-page TIFF via tifffile; uncompressed stacks are read at their offset in the file."""

    format = "tiff"

    def __init__(self, path):
        super().__init__(path)
        import tifffile

        try:
            with _tifffile_complaints() as complaints:
                self._tif = tifffile.TiffFile(self.path)
                series = self._tif.series[0]
                shape, axes = tuple(series.shape), series.axes
        except Exception as exc:  # tifffile raises many types for broken files
            raise MovieError(f"{self.path}: the TIFF is truncated or corrupt ({exc}).") from None
        # Whatever refuses the file below (a check, or a bad frame while sampling the levels in
        # _finish_open) must release it first: one handler closes it for all of them.
        try:
            # tifffile reads past a broken page table with a logged warning and fewer frames.
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
            if self.n_frames == 0 or self.height == 0 or self.width == 0:
                raise MovieError(f"{self.path}: the movie has zero frames.")
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
            self._finish_open(wide=self._dtype.itemsize > 1 or self._dtype.kind == "f")
        except BaseException:
            self._tif.close()
            raise

    def _interval(self) -> float | None:
        """ImageJ's ``finterval`` (in ``tunit``), or ``frame_interval_s`` in tifffile metadata."""
        meta = self._tif.imagej_metadata or {}
        if meta.get("finterval"):
            scale = {"ms": 1e-3, "msec": 1e-3, "min": 60.0, "h": 3600.0, "hour": 3600.0,
                     "hours": 3600.0}.get(str(meta.get("tunit", "s")).lower(), 1.0)
            return float(meta["finterval"]) * scale
        for shaped in self._tif.shaped_metadata or ():
            if shaped.get("frame_interval_s"):
                return float(shaped["frame_interval_s"])
        return None

    def _raw_frame(self, index):
        try:
            if self._offset is not None:
                self._handle.seek(self._offset + index * self._frame_bytes)
                data = self._handle.read(self._frame_bytes)
                if len(data) != self._frame_bytes:
                    raise MovieError(f"{self.path}: the TIFF is truncated at frame {index}.")
                frame = np.frombuffer(data, self._dtype).reshape(self._frame_shape)
                return frame.astype(self._dtype.newbyteorder("="), copy=False)
            frame = self._pages[index].asarray()
        except MovieError:
            raise
        except Exception as exc:
            raise MovieError(
                f"{self.path}: the TIFF is truncated or corrupt at frame {index} ({exc})."
            ) from None
        if frame.ndim == 3 and frame.shape[0] in (3, 4) and frame.shape[-1] not in (3, 4):
            frame = np.moveaxis(frame, 0, -1)  # planar RGB
        return frame

    def close(self):
        self._tif.close()


class _VideoMovie(Movie):
    """MP4 / AVI through imageio-ffmpeg; ffmpeg itself converts to gray (``pix_fmt=gray``)."""

    format = "video"

    def __init__(self, path):
        super().__init__(path)
        import imageio_ffmpeg

        try:
            meta = self._open_reader()
            self.width, self.height = (int(v) for v in meta["size"])
            fps = meta.get("fps")
            # ffmpeg counts frames by decoding the stream: exact, and the only check of the tail.
            self.n_frames, _ = imageio_ffmpeg.count_frames_and_secs(str(self.path))
        except (OSError, RuntimeError, StopIteration, KeyError, ValueError) as exc:
            raise MovieError(
                f"{self.path}: not a readable video, or truncated or corrupt ({_first_line(exc)})."
            ) from None
        self.frame_interval_s = 1.0 / float(fps) if fps else None
        self._finish_open(wide=False)

    def _open_reader(self) -> dict:
        import imageio_ffmpeg

        self.close()
        self._reader = imageio_ffmpeg.read_frames(str(self.path), pix_fmt="gray", bpp=1)
        self._position = 0  # index of the frame the reader yields next
        return next(self._reader)

    def _raw_frame(self, index):
        # Videos are sequential: go on from the current position, or start again from 0.
        if index < self._position:
            self._open_reader()
        try:
            while True:
                data = next(self._reader)
                self._position += 1
                if self._position - 1 == index:
                    return np.frombuffer(data, np.uint8).reshape(self.height, self.width)
        except StopIteration:
            raise MovieError(
                f"{self.path}: the video is truncated (it ends before frame {index})."
            ) from None
        except (OSError, RuntimeError) as exc:
            raise MovieError(f"{self.path}: the video is corrupt at frame {index} ({_first_line(exc)}).") from None

    def close(self):
        reader = getattr(self, "_reader", None)
        if reader is not None:
            reader.close()
            self._reader = None


class _FolderMovie(Movie):
    """A folder of numbered frames, in natural order; every frame must have frame 0's size."""

    format = "folder"

    def __init__(self, path):
        super().__init__(path)
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
            try:
                with Image.open(file) as image:
                    sizes.setdefault(image.size, file)
                    wide = wide or image.mode in ("I", "I;16", "I;16B", "I;16L", "F")
            except (OSError, ValueError, SyntaxError) as exc:
                raise MovieError(f"{file}: not a readable image ({exc}).") from None
        if len(sizes) > 1:
            described = ", ".join(f"{w}x{h} ({f.name})" for (w, h), f in sizes.items())
            raise MovieError(f"{self.path}: frames of different sizes: {described}.")
        self.width, self.height = next(iter(sizes))
        self._finish_open(wide=wide)

    def _raw_frame(self, index):
        from PIL import Image

        file = self.files[index]
        try:
            with Image.open(file) as image:
                if image.mode in ("P", "PA", "LA", "RGBA", "CMYK", "YCbCr", "1"):
                    image = image.convert("RGB")
                return np.asarray(image)
        except (OSError, ValueError, SyntaxError) as exc:
            raise MovieError(f"{file}: the frame is truncated or corrupt ({exc}).") from None


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


def _ends_with_gif_trailer(path: Path) -> bool:
    """A complete GIF ends with the trailer byte ';' (0x3B)."""
    with open(path, "rb") as handle:
        handle.seek(-1, 2)
        return handle.read(1) == b";"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _kind(path: Path) -> str:
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
    kind = _kind(path)
    if kind == "image":
        raise MovieError(
            f"{path}: a single image, not a movie (put numbered frames in a folder, or use "
            f"{SUPPORTED})."
        )
    reader = {"gif": _GifMovie, "tiff": _TiffMovie, "video": _VideoMovie, "folder": _FolderMovie}[kind]
    return reader(path)


def read_movie(path) -> np.ndarray:
    """The whole movie as a (T, H, W) uint8 array (loads every frame: for small movies)."""
    with open_movie(path) as movie:
        frames = np.empty((movie.n_frames, movie.height, movie.width), np.uint8)
        for index, frame in enumerate(movie):
            frames[index] = frame
    return frames
