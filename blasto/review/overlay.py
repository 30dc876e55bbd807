"""Draw masks over pool frames and export the result as MP4 or GIF.

The predicted mask is drawn as an outline or a translucent fill in a chosen colour and
opacity; a hand mask, where one exists, can be added as an outline in a second colour (then
the model's outline runs just outside its mask and the hand's just inside, so both stay
visible where they agree). :func:`burn_labels` writes each frame's number and time into the
exported movie. For the in-page player: :func:`sprite_sheet` packs a movie into one image and
:func:`mask_path` turns a mask into an SVG path drawn over it.

>>> frame = np.zeros((4, 4), np.uint8)
>>> mask = np.zeros((4, 4), bool); mask[1:3, 1:3] = True
>>> overlay_frame(frame, mask, style="fill", colour="#ff0000", opacity=1.0)[1, 1].tolist()
[255, 0, 0]
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

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
    the colour's weight (0 invisible, 1 solid). With a ``manual`` mask the model's outline is
    drawn just outside the model's mask and the hand's just inside the hand's, so that both
    show where the two agree. ``scale`` enlarges the frame first (nearest
    neighbour) so that outlines stay one screen pixel sharp but visible.
    """
    if style not in STYLES:
        raise BlastoError(f"Unknown overlay style {style!r}: use one of {', '.join(STYLES)}.")
    rgb = upscale(to_rgb(frame), scale).copy()
    if mask is not None:
        big = upscale(np.asarray(mask, bool), scale)
        width = thickness * max(1, scale)
        if style == "fill":
            where = big
        elif manual is not None:
            # Outside the model's mask: the hand's outline (inside its mask) cannot cover it.
            where = ndimage.binary_dilation(big, iterations=width) & ~big
        else:
            where = outline(big, thickness=width)
        _blend(rgb, where, colour, opacity)
    if manual is not None:
        big = upscale(np.asarray(manual, bool), scale)
        _blend(rgb, outline(big, thickness=max(1, scale)), manual_colour, 1.0)
    return rgb


def overlay_movie(frames: np.ndarray, masks: np.ndarray | None = None, *, manual: dict | None = None,
                  labels=None, **options) -> np.ndarray:
    """Every frame with its mask drawn on it: (T, H*scale, W*scale, 3) uint8.

    ``manual`` maps frame numbers to hand masks (drawn on those frames only); ``labels`` (one
    text per frame, e.g. :func:`frame_labels`) are burned in by :func:`burn_labels`;
    ``options`` are those of :func:`overlay_frame`.
    """
    manual = manual or {}
    movie = np.stack([
        overlay_frame(frame, None if masks is None else masks[t], manual=manual.get(t), **options)
        for t, frame in enumerate(frames)
    ])
    return movie if labels is None else burn_labels(movie, labels)


def frame_labels(n_frames: int, *, frame_interval_s: float | None = None) -> list[str]:
    """One label per frame: its number (from 0) and, when the interval is known, its time.

    >>> frame_labels(3, frame_interval_s=600)
    ['frame 0 · 0:00 h', 'frame 1 · 0:10 h', 'frame 2 · 0:20 h']
    >>> frame_labels(1)
    ['frame 0']
    """
    labels = []
    for t in range(int(n_frames)):
        text = f"frame {t}"
        if frame_interval_s:
            minutes = int(round(t * float(frame_interval_s) / 60))
            text += f" · {minutes // 60}:{minutes % 60:02d} h"
        labels.append(text)
    return labels


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def burn_labels(frames: np.ndarray, labels) -> np.ndarray:
    """Write each frame's label in its top-left corner, white on a dark box: a copy of ``frames``.

    The text is about a fifteenth of the frame's height (at least 10 px), so it stays readable
    in a small GIF and does not hide the pool in a large MP4.
    """
    from PIL import Image, ImageDraw

    frames = np.asarray(frames, np.uint8)
    labels = list(labels)
    if len(labels) != len(frames):
        raise BlastoError(f"{len(labels)} labels for {len(frames)} frames: one label per frame is needed.")
    height = frames.shape[1]
    font = _font(max(10, height // 15))
    pad = max(2, height // 100)
    out = np.empty(frames.shape[:3] + (3,), np.uint8)
    for t, (frame, text) in enumerate(zip(frames, labels)):
        image = Image.fromarray(to_rgb(frame)).convert("RGBA")
        box = Image.new("RGBA", image.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(box)
        left, top, right, bottom = draw.textbbox((pad, pad), text, font=font)
        draw.rectangle((0, 0, right + pad, bottom + pad), fill=(0, 0, 0, 160))
        draw.text((pad, pad), text, font=font, fill=(255, 255, 255, 255))
        out[t] = np.asarray(Image.alpha_composite(image, box).convert("RGB"))
    return out


# -- the in-page player's pieces ------------------------------------------------------------
@dataclass(frozen=True)
class Sprite:
    """A movie packed into one image, frame ``t`` at row ``t // columns``, column ``t % columns``."""

    data: bytes
    mime: str
    count: int
    columns: int
    width: int   # of one frame, pixels
    height: int


def sprite_sheet(frames: np.ndarray, *, quality: int = 92) -> Sprite:
    """Pack (T, H, W) grayscale or (T, H, W, 3) frames into one JPEG, about square.

    One image is one request and one decode for the browser, however many frames: the player
    then draws any frame instantly. A 144-frame 256 x 256 pool is about 1.2 MB.

    >>> sheet = sprite_sheet(np.zeros((5, 4, 6), np.uint8))
    >>> sheet.columns, sheet.count, sheet.data[:2] == b"\\xff\\xd8"
    (3, 5, True)
    """
    from PIL import Image

    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        frames = np.clip(frames, 0, 255).astype(np.uint8)
    if len(frames) == 0:
        raise BlastoError("No frames to show.")
    count, height, width = frames.shape[:3]
    columns = int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    sheet = np.zeros((rows * height, columns * width) + frames.shape[3:], np.uint8)
    for t, frame in enumerate(frames):
        r, c = divmod(t, columns)
        sheet[r * height:(r + 1) * height, c * width:(c + 1) * width] = frame
    buffer = io.BytesIO()
    Image.fromarray(sheet).save(buffer, format="JPEG", quality=quality)
    return Sprite(data=buffer.getvalue(), mime="image/jpeg", count=count, columns=columns,
                  width=width, height=height)


def mask_path(mask: np.ndarray, *, tolerance: float = 0.3) -> str:
    """The mask's borders as SVG path data in pixel coordinates (holes included: draw with the
    even-odd rule); "" for an empty mask.

    Vector outlines stay one screen pixel sharp at any zoom, and a movie's worth is a few
    hundred kB of text instead of a second sprite.

    >>> m = np.zeros((6, 6), bool); m[2:4, 2:4] = True
    >>> mask_path(m)
    'M3.5 4L2.5 4L2 3.5L2 2.5L2.5 2L3.5 2L4 2.5L4 3.5Z'
    """
    from skimage.measure import approximate_polygon, find_contours

    mask = np.asarray(mask, bool)
    if not mask.any():
        return ""
    # Padded so that shapes touching the border close; the 0.5 level runs along pixel edges
    # shifted by half a pixel, which the +0.5 (pixel centres at i + 0.5) puts back.
    padded = np.pad(mask, 1).astype(np.float32)
    parts = []
    for contour in find_contours(padded, 0.5):
        contour = approximate_polygon(contour, tolerance=tolerance) - 1 + 0.5
        if len(contour) < 3:
            continue
        points = [f"{_num(x)} {_num(y)}" for y, x in contour[:-1]]
        parts.append("M" + "L".join(points) + "Z")
    return "".join(parts)


def _num(value: float) -> str:
    return f"{round(float(value), 1):g}"


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
