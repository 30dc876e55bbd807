"""Draw masks over pool frames and export the result as MP4 or GIF.

The predicted mask is drawn as an outline or a translucent fill in a chosen colour and
opacity; a hand mask, where one exists, can be added as an outline in a second colour.

>>> frame = np.zeros((4, 4), np.uint8)
>>> mask = np.zeros((4, 4), bool); mask[1:3, 1:3] = True
>>> overlay_frame(frame, mask, style="fill", colour="#ff0000", opacity=1.0)[1, 1].tolist()
[255, 0, 0]
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np

from blasto.store import atomic
from blasto.errors import BlastoError
from blasto.masks import outline

STYLES = ("outline", "fill")
DEFAULT_COLOUR = "#ff2d55"
MANUAL_COLOUR = "#00d5ff"


def parse_colour(colour) -> tuple[int, int, int]:
    """An ``#rrggbb`` string (or an (r, g, b) triple) as an RGB triple of ints.

    >>> parse_colour("#00ff80")
    (0, 255, 128)
    """
    if isinstance(colour, str):
        text = colour.strip().lstrip("#")
        if len(text) == 3:
            text = "".join(c * 2 for c in text)
        try:
            if len(text) != 6:
                raise ValueError
            return tuple(int(text[i:i + 2], 16) for i in (0, 2, 4))
        except ValueError:
            raise BlastoError(f"Colour {colour!r} is not an #rrggbb colour.") from None
    r, g, b = (int(v) for v in colour)
    return r, g, b


def to_rgb(frame: np.ndarray) -> np.ndarray:
    """A grayscale (H, W) frame as (H, W, 3) uint8; RGB frames pass through."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    if frame.ndim == 2:
        return np.repeat(frame[..., None], 3, axis=-1)
    return frame[..., :3]



def _blend(rgb: np.ndarray, where: np.ndarray, colour, opacity: float) -> None:
    colour = np.array(parse_colour(colour), float)
    opacity = float(np.clip(opacity, 0.0, 1.0))
    rgb[where] = np.round(rgb[where] * (1 - opacity) + colour * opacity).astype(np.uint8)


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Enlarge by an integer factor, nearest neighbour (crisp pixels and outlines)."""
    factor = int(factor)
    if factor <= 1:
        return image
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def overlay_frame(frame: np.ndarray, mask: np.ndarray | None = None, *, style: str = "outline",
                  colour=DEFAULT_COLOUR, opacity: float = 0.8, manual: np.ndarray | None = None,
                  manual_colour=MANUAL_COLOUR, scale: int = 1, thickness: int = 1) -> np.ndarray:
    """One frame as RGB with the predicted ``mask`` (and optionally the ``manual`` mask) drawn on it.

    ``style`` "outline" draws the mask's border, "fill" tints the whole mask; ``opacity`` is
    the colour's weight (0 invisible, 1 solid). ``scale`` enlarges the frame first (nearest
    neighbour) so that outlines stay one screen pixel sharp but visible.
    """
    if style not in STYLES:
        raise BlastoError(f"Unknown overlay style {style!r}: use one of {', '.join(STYLES)}.")
    rgb = upscale(to_rgb(frame), scale).copy()
    if mask is not None:
        big = upscale(np.asarray(mask, bool), scale)
        where = outline(big, thickness=thickness * max(1, scale)) if style == "outline" else big
        _blend(rgb, where, colour, opacity)
    if manual is not None:
        big = upscale(np.asarray(manual, bool), scale)
        _blend(rgb, outline(big, thickness=max(1, scale)), manual_colour, 1.0)
    return rgb


def overlay_movie(frames: np.ndarray, masks: np.ndarray | None = None, *, manual: dict | None = None,
                  **options) -> np.ndarray:
    """Every frame with its mask drawn on it: (T, H*scale, W*scale, 3) uint8.

    ``manual`` maps frame numbers to hand masks (drawn on those frames only); ``options`` are
    those of :func:`overlay_frame`.
    """
    manual = manual or {}
    return np.stack([
        overlay_frame(frame, None if masks is None else masks[t], manual=manual.get(t), **options)
        for t, frame in enumerate(frames)
    ])


def _even(frames: np.ndarray) -> np.ndarray:
    """Pad height and width to even sizes (H.264 with yuv420p needs them)."""
    frames = np.asarray(frames, np.uint8)
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    _, height, width, _ = frames.shape
    pad = ((0, 0), (0, height % 2), (0, width % 2), (0, 0))
    return np.pad(frames, pad, mode="edge") if height % 2 or width % 2 else frames


def write_mp4(path, frames: np.ndarray, *, fps: float = 8.0) -> Path:
    """Write (T, H, W, 3) uint8 frames as an H.264 MP4 (yuv420p, plays in browsers), atomically."""
    import imageio

    frames = _even(frames)
    if len(frames) == 0:
        raise BlastoError("No frames to write to the movie.")
    path = Path(path)
    with atomic.atomic_path(path, suffix=".mp4") as tmp:
        writer = imageio.get_writer(
            tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264", pixelformat="yuv420p",
            macro_block_size=2, quality=8, ffmpeg_log_level="error",
            output_params=["-movflags", "+faststart"],
        )
        try:
            for frame in frames:
                writer.append_data(frame)
        finally:
            writer.close()
    return path


def mp4_bytes(frames: np.ndarray, *, fps: float = 8.0) -> bytes:
    """The MP4 of :func:`write_mp4` as bytes (for a download button or ``st.video``)."""
    with tempfile.TemporaryDirectory() as folder:
        path = write_mp4(Path(folder) / "overlay.mp4", frames, fps=fps)
        return path.read_bytes()


def gif_bytes(frames: np.ndarray, *, fps: float = 8.0) -> bytes:
    """(T, H, W, 3) uint8 frames as a looping animated GIF."""
    from PIL import Image

    frames = np.asarray(frames, np.uint8)
    if len(frames) == 0:
        raise BlastoError("No frames to write to the GIF.")
    images = [Image.fromarray(f).convert("P", palette=Image.Palette.ADAPTIVE, colors=255) for f in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=max(20, int(round(1000 / fps))), loop=0, optimize=False)
    return buffer.getvalue()


def write_gif(path, frames: np.ndarray, *, fps: float = 8.0) -> Path:
    """Write :func:`gif_bytes` to ``path`` atomically."""
    atomic.write_bytes(path, gif_bytes(frames, fps=fps))
    return Path(path)
