"""Strokes to mask pixels: the drawing tools, in the pool frame's own pixel coordinates.

The Annotate page's drawing surface (:mod:`blasto.app.annotate.canvas`) reports each stroke as
soon as the pointer is released, as a :class:`Stroke`: its tool (outline, brush, polygon), its
mode (``"add"`` paints cell, ``"erase"`` paints background, as in napari), its points in
**image pixel coordinates** (x, y; pixel (row r, column c) covers x in [c, c + 1) and y in
[r, r + 1), whatever the zoom), and its line width in image pixels. Everything that turns
strokes into a mask lives here, without Streamlit, so it can be tested and reused:

* :func:`stroke_region` gives the pixels one stroke covers: an outline is closed and filled
  (its line included), a brush paints a round-capped band, a polygon is filled.
* :func:`apply_strokes` paints strokes, in drawing order, on top of a base mask.
* :func:`from_fabric` reads the fabric.js objects that round 1's canvas
  (streamlit-drawable-canvas) stored in strokes files, so old files still replay.

One editing visit of a frame (undo, redo, proposals, save) is :mod:`blasto.annotate.edit`;
which frames get a hand mask is :mod:`blasto.annotate.plan`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from blasto.errors import MaskError

TOOLS = ("outline", "brush", "polygon")
MODES = ("add", "erase")
#: Line width of outlines and polygon edges, in image pixels: thin enough to trace an edge.
LINE_WIDTH = 1.0
#: Brush diameters the page offers, in image pixels.
BRUSH_SIZES = (1, 64)
MAX_POINTS = 20_000  # a stroke with more points than this is not a stroke but a bad message


@dataclass(frozen=True)
class Stroke:
    """One stroke: one undo step.

    >>> Stroke.from_dict({"tool": "brush", "mode": "erase", "size": 6, "points": [[1, 2]]})
    Stroke(tool='brush', mode='erase', points=((1.0, 2.0),), size=6.0)
    """

    tool: str
    mode: str
    points: tuple  # ((x, y), ...) in image pixels
    size: float = LINE_WIDTH

    def __post_init__(self):
        if self.tool not in TOOLS:
            raise MaskError(f"Unknown drawing tool {self.tool!r}: use one of {', '.join(TOOLS)}.")
        if self.mode not in MODES:
            raise MaskError(f"Unknown drawing mode {self.mode!r}: use 'add' or 'erase'.")
        if not 0 < len(self.points) <= MAX_POINTS:
            raise MaskError(f"A stroke needs 1 to {MAX_POINTS} points, not {len(self.points)}.")
        if not 0 < self.size <= 1000:
            raise MaskError(f"A stroke's width must be between 0 and 1000 pixels, not {self.size}.")

    @classmethod
    def from_dict(cls, values: dict) -> "Stroke":
        """A stroke from its JSON form (what the canvas sends, what strokes files keep)."""
        try:
            points = tuple((float(x), float(y)) for x, y in values["points"])
            return cls(tool=str(values["tool"]), mode=str(values.get("mode", "add")),
                       points=points, size=float(values.get("size", LINE_WIDTH)))
        except (KeyError, TypeError, ValueError) as exc:
            raise MaskError(f"Not a stroke: {str(values)[:80]} ({exc}).") from None

    def to_dict(self) -> dict:
        return {"tool": self.tool, "mode": self.mode, "size": self.size,
                "points": [[round(x, 2), round(y, 2)] for x, y in self.points]}


# -- rasterising ---------------------------------------------------------------------------------
def _thin_out(points: np.ndarray, step: float) -> np.ndarray:
    """Drop points closer than ``step`` to the last kept one (the pencil reports many)."""
    if len(points) < 3:
        return points
    kept, last = [0], points[0]
    for index in range(1, len(points) - 1):
        if np.hypot(*(points[index] - last)) >= step:
            kept.append(index)
            last = points[index]
    kept.append(len(points) - 1)
    return points[kept]


def _near_polyline(shape, points_rc: np.ndarray, radius: float) -> np.ndarray:
    """Pixels whose centre lies within ``radius`` of the polyline (round caps and joins).

    Exact distances, computed only for the pixels in each segment's own box (+ radius), all
    segments at once: a traced outline of hundreds of points takes milliseconds.

    >>> _near_polyline((5, 5), np.array([[2.0, 0.0], [2.0, 4.0]]), 1.0).astype(int)[:, 0]
    array([0, 1, 1, 1, 0])
    """
    out = np.zeros(shape, dtype=bool)
    if not len(points_rc):
        return out
    radius = max(float(radius), 0.71)  # at least the pixels the line passes through
    points_rc = _thin_out(points_rc, max(0.5, radius / 4))
    if len(points_rc) == 1:
        points_rc = np.repeat(points_rc, 2, axis=0)
    a, b = points_rc[:-1], points_rc[1:]
    low = np.maximum(np.floor(np.minimum(a, b) - radius), 0).astype(int)
    high = np.minimum(np.ceil(np.maximum(a, b) + radius) + 1, shape).astype(int)
    sizes = np.maximum(high - low, 0)
    counts = sizes[:, 0] * sizes[:, 1]
    for chunk in np.array_split(np.arange(len(a)), max(1, int(counts.sum()) // 500_000 + 1)):
        seg = np.repeat(chunk, counts[chunk])
        if not len(seg):
            continue
        starts = np.cumsum(counts[chunk]) - counts[chunk]
        k = np.arange(len(seg)) - np.repeat(starts, counts[chunk])
        rows = low[seg, 0] + k // sizes[seg, 1]
        cols = low[seg, 1] + k % sizes[seg, 1]
        pixel = np.stack([rows, cols], axis=1).astype(float)
        ab = b[seg] - a[seg]
        length2 = np.sum(ab * ab, axis=1)
        t = np.clip(np.sum((pixel - a[seg]) * ab, axis=1) / np.where(length2 > 0, length2, 1), 0, 1)
        near = np.sum((pixel - (a[seg] + t[:, None] * ab)) ** 2, axis=1) <= radius ** 2
        out[rows[near], cols[near]] = True
    return out


def _inside_polygon(shape, points_rc: np.ndarray) -> np.ndarray:
    """Pixels inside a polygon given in pixel-centre (row, col) coordinates.

    PIL's scan-line fill: a traced outline has hundreds of corners, where
    ``skimage.draw.polygon`` tests every pixel against every edge.

    >>> _inside_polygon((4, 4), np.array([[0.0, 0.0], [0.0, 3.0], [3.0, 3.0], [3.0, 0.0]])).sum()
    np.int64(16)
    """
    from PIL import Image, ImageDraw

    out = Image.new("1", (shape[1], shape[0]), 0)
    if len(points_rc) >= 3:
        ImageDraw.Draw(out).polygon([(c, r) for r, c in points_rc], fill=1)
    return np.asarray(out, dtype=bool)




def stroke_region(stroke: Stroke, shape) -> np.ndarray:
    """The pixels of a mask of ``shape`` that one stroke covers.

    >>> square = Stroke("outline", "add", ((2, 2), (6, 2), (6, 6), (2, 6)))
    >>> stroke_region(square, (8, 8)).sum()  # pixels 2..5 inside, the line around them
    np.int64(36)
    """
    points_rc = np.array(stroke.points, dtype=float)[:, ::-1] - 0.5  # (x, y) -> pixel centres
    line = _near_polyline(shape, points_rc, stroke.size / 2)
    if stroke.tool == "brush":
        return line
    if stroke.tool == "outline":  # closed on release: the line back to the start is drawn
        line |= _near_polyline(shape, points_rc[[-1, 0]], stroke.size / 2)
    return line | _inside_polygon(shape, points_rc)


def apply_strokes(base: np.ndarray, strokes, *, cache: dict | None = None) -> np.ndarray:
    """``base`` (bool, True = cell) with strokes painted on top, in drawing order.

    ``"add"`` strokes paint cell, ``"erase"`` strokes paint background. ``cache`` (a dict
    kept by the caller) remembers each stroke's pixels between calls.

    >>> base = np.zeros((4, 4), bool)
    >>> int(apply_strokes(base, [Stroke("polygon", "add", ((0, 0), (4, 0), (4, 4), (0, 4)))]).sum())
    16
    """
    cell = np.array(base, dtype=bool, copy=True)
    for stroke in strokes:
        if cache is None:
            region = stroke_region(stroke, cell.shape)
        else:  # strokes are frozen (hashable): rasterise each once
            key = (stroke, cell.shape)
            if key not in cache:
                cache[key] = stroke_region(stroke, cell.shape)
            region = cache[key]
        cell[region] = stroke.mode == "add"
    return cell


# -- round 1's fabric.js objects (strokes files written before the own canvas) ----------------
# Stroke colours encoded the mode; ``rgb`` vs ``rgba`` told an outline from a brush stroke.
ERASE_RGB = (255, 0, 200)
# A free-hand outline counted as closed (and was filled) when its ends were this close, in
# canvas pixels or as a fraction of its length, whichever is larger.
CLOSE_GAP_PX = 24
CLOSE_GAP_FRACTION = 0.2
_COLOUR = re.compile(r"^\s*rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*(?:,\s*([\d.]+)\s*)?\)\s*$")


def object_kind(obj: dict) -> tuple[str, str]:
    """(tool, mode) of a fabric object, read back from its type and stroke colour.

    >>> object_kind({"type": "Path", "stroke": "rgba(255, 0, 200, 0.5)"})
    ('brush', 'erase')
    """
    kind = obj.get("type")
    match = _COLOUR.match(str(obj.get("stroke") or ""))
    rgb = tuple(int(v) for v in match.groups()[:3]) if match else None
    mode = "erase" if rgb == ERASE_RGB else "add"
    if kind == "Polygon":
        return "polygon", mode
    if kind == "Path":
        return ("brush" if match and match.group(4) is not None else "outline"), mode
    raise MaskError(f"Cannot turn a canvas object of type {kind!r} into a mask.")


def _path_points(path: list) -> np.ndarray:
    """Points along an SVG-like fabric path (M, L, Q, C, Z), curves sampled finely."""
    points, current, start = [], None, None
    for command in path:
        op, args = command[0], [float(v) for v in command[1:]]
        if op in ("M", "L"):
            current = (args[0], args[1])
            start = current if op == "M" else start
            points.append(current)
        elif op in ("Q", "C") and current is not None:
            controls = [current] + [(args[i], args[i + 1]) for i in range(0, len(args), 2)]
            t = np.linspace(0, 1, 3)[1:, None]  # the pencil's curves are short
            if op == "Q":
                p0, p1, p2 = (np.array(c) for c in controls)
                curve = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2
            else:
                p0, p1, p2, p3 = (np.array(c) for c in controls)
                curve = ((1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1
                         + 3 * (1 - t) * t ** 2 * p2 + t ** 3 * p3)
            points.extend(map(tuple, curve))
            current = points[-1]
        elif op in ("Z", "z") and start is not None:
            points.append(start)
            current = start
    return np.array(points, dtype=float).reshape(-1, 2)



_ORIGIN = {"left": 0.0, "top": 0.0, "center": 0.5, "right": 1.0, "bottom": 1.0}


def object_points(obj: dict) -> np.ndarray:
    """The object's outline as (N, 2) canvas coordinates (x, y), moves/scales/rotations applied.

    fabric stores path and polygon points in their own frame, centred on the bounding box
    (``pathOffset``); ``left``/``top`` place the object's origin on the canvas.

    >>> object_points({"type": "Polygon", "left": 15, "top": 15, "originX": "center",
    ...                "originY": "center", "points": [{"x": 10, "y": 10}, {"x": 20, "y": 20}]})
    array([[10., 10.],
           [20., 20.]])
    """
    if obj.get("type") == "Polygon":
        local = np.array([[p["x"], p["y"]] for p in obj.get("points", [])], dtype=float)
    else:
        local = _path_points(obj.get("path") or [])
    local = local.reshape(-1, 2)
    if not len(local):
        return local
    local = local - (local.min(axis=0) + local.max(axis=0)) / 2  # about the box centre
    scale = np.array([obj.get("scaleX", 1) * (-1 if obj.get("flipX") else 1),
                      obj.get("scaleY", 1) * (-1 if obj.get("flipY") else 1)], dtype=float)
    angle = np.deg2rad(obj.get("angle", 0) or 0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    # Where the box centre lies relative to the origin point, in the object's own frame.
    stroke = 0 if obj.get("strokeUniform") else float(obj.get("strokeWidth") or 0)
    size = np.array([float(obj.get("width", np.ptp(local[:, 0]))) + stroke,
                     float(obj.get("height", np.ptp(local[:, 1]))) + stroke]) * np.abs(scale)
    origin = np.array([_ORIGIN.get(obj.get("originX", "left"), 0.0),
                       _ORIGIN.get(obj.get("originY", "top"), 0.0)])
    centre = np.array([float(obj.get("left", 0)), float(obj.get("top", 0))])
    centre = centre + rotation @ ((0.5 - origin) * size)
    return (local * scale) @ rotation.T + centre


def is_closed(points: np.ndarray) -> bool:
    """Whether a free-hand outline's ends meet closely enough to be filled.

    >>> is_closed(np.array([[0, 0], [100, 0], [100, 100], [0, 100], [0, 10]]))
    True
    >>> is_closed(np.array([[0, 0], [100, 0], [100, 100]]))
    False
    """
    if len(points) < 3:
        return False
    length = float(np.sum(np.hypot(*np.diff(points, axis=0).T)))
    gap = float(np.hypot(*(points[-1] - points[0])))
    return gap <= max(CLOSE_GAP_PX, CLOSE_GAP_FRACTION * length)


def from_fabric(obj: dict, *, canvas_size, shape) -> Stroke:
    """The :class:`Stroke` a fabric object of round 1's canvas drew on a mask of ``shape``.

    ``canvas_size`` is that canvas's (width, height): it showed the frame enlarged. An outline
    whose ends did not meet only marked its line: it becomes a thin brush stroke.

    >>> square = {"type": "Polygon", "stroke": "rgb(0, 230, 64)", "strokeWidth": 2,
    ...           "left": 4, "top": 4, "originX": "center", "originY": "center",
    ...           "points": [{"x": 0, "y": 0}, {"x": 8, "y": 0}, {"x": 8, "y": 8}]}
    >>> from_fabric(square, canvas_size=(8, 8), shape=(4, 4)).points
    ((0.0, 0.0), (4.0, 0.0), (4.0, 4.0))
    """
    tool, mode = object_kind(obj)
    points = object_points(obj)
    if not len(points):
        raise MaskError("A canvas object without points cannot become a mask.")
    height, width = shape
    scale = np.array([width / canvas_size[0], height / canvas_size[1]])
    size = float(obj.get("strokeWidth") or 0) * float(scale.mean())
    size *= (abs(obj.get("scaleX", 1)) + abs(obj.get("scaleY", 1))) / 2
    if tool == "outline" and not is_closed(points):
        tool = "brush"
    return Stroke(tool=tool, mode=mode, points=tuple(map(tuple, (points * scale).tolist())),
                  size=max(size, LINE_WIDTH))
