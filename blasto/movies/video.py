"""MP4 / AVI (and other videos ffmpeg reads), decoded by imageio-ffmpeg as a stream of frames."""

from __future__ import annotations

import numpy as np

from blasto.errors import MovieError
from blasto.movies.base import Movie, refused

#: Extensions handed to ffmpeg when the first bytes are not GIF or TIFF.
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".wmv", ".mpg", ".mpeg", ".webm")


class VideoMovie(Movie):
    """MP4 / AVI through imageio-ffmpeg; ffmpeg itself converts to gray (``pix_fmt=gray``)."""

    format = "video"
    _reader = None  # the ffmpeg frame generator, started again to go back

    def _open(self) -> bool:
        import imageio_ffmpeg

        self._held.callback(self._stop)
        with refused(f"{self.path}: not a readable video, or truncated or corrupt",
                     (OSError, RuntimeError, StopIteration, KeyError, ValueError)):
            meta = self._start()
            self.width, self.height = (int(v) for v in meta["size"])
            fps = meta.get("fps")
            # ffmpeg counts frames by decoding the stream: exact, and the only check of the tail.
            self.n_frames, _ = imageio_ffmpeg.count_frames_and_secs(str(self.path))
        self.frame_interval_s = 1.0 / float(fps) if fps else None
        return False

    def _start(self) -> dict:
        """(Re)start the stream at frame 0; returns ffmpeg's metadata."""
        import imageio_ffmpeg

        self._stop()
        self._reader = imageio_ffmpeg.read_frames(str(self.path), pix_fmt="gray", bpp=1)
        self._position = 0  # index of the frame the reader yields next
        return next(self._reader)

    def _stop(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _raw_frame(self, index):
        # Videos are sequential: go on from the current position, or start again from 0.
        if index < self._position:
            self._start()
        with refused(f"{self.path}: the video is corrupt at frame {index}", (OSError, RuntimeError)):
            for data in self._reader:
                self._position += 1
                if self._position - 1 == index:
                    return np.frombuffer(data, np.uint8).reshape(self.height, self.width)
        raise MovieError(f"{self.path}: the video is truncated (it ends before frame {index}).")
