"""Canvas strokes to mask pixels: the drawing tools, and the geometry of fabric.js objects.

The Annotate page draws on ``streamlit-drawable-canvas``, which hands back the drawing as
fabric.js JSON (one object per stroke). Everything that turns those objects into a mask lives
here, without Streamlit, so it can be tested and reused:

* :func:`tool_style` gives the canvas settings of a tool (outline, brush, polygon) in a mode
  (``"add"`` paints cell, ``"erase"`` paints background). The mode and tool are encoded in the
  stroke colour, so each object carries them: the canvas has no eraser, and erasing is just
  painting background (as in napari).
* :func:`apply_objects` rasterises objects, in drawing order, on top of a base mask at the
  mask's resolution (the canvas shows the frame enlarged).

One editing visit of a frame (undo, redo, save) is :mod:`blasto.annotate.edit`; which frames
get a hand mask is :mod:`blasto.annotate.plan`.
"""

from __future__ import annotations

import json
import re

import numpy as np

from blasto.errors import MaskError

TOOLS = ("outline", "brush", "polygon")
MODES = ("add", "erase")

# Stroke colours encode the mode; ``rgb`` vs ``rgba`` tells an outline from a brush stroke
# (both are free-hand paths on the canvas).
ADD_RGB = (0, 230, 64)
ERASE_RGB = (255, 0, 200)
OUTLINE_WIDTH = 3  # canvas pixels: thin enough to trace a cell edge
POLYGON_WIDTH = 2
# A free-hand outline counts as closed (and is filled) when its ends are this close, in
# canvas pixels or as a fraction of its length, whichever is larger: nobody closes exactly.
CLOSE_GAP_PX = 24
CLOSE_GAP_FRACTION = 0.2

_COLOUR = re.compile(r"^\s*rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*(?:,\s*([\d.]+)\s*)?\)\s*$")


# -- tools --------------------------------------------------------------------------------------
def tool_style(tool: str, *, mode: str = "add", brush_size: int = 20) -> dict:
    """Keyword arguments for ``st_canvas`` that draw with ``tool`` in ``mode``.

    >>> tool_style("outline")["stroke_color"]
    'rgb(0, 230, 64)'
    >>> tool_style("brush", mode="erase", brush_size=12)["stroke_width"]
    12
    """
    if tool not in TOOLS:
        raise MaskError(f"Unknown drawing tool {tool!r}: use one of {', '.join(TOOLS)}.")
    if mode not in MODES:
        raise MaskError(f"Unknown drawing mode {mode!r}: use 'add' or 'erase'.")
    r, g, b = ADD_RGB if mode == "add" else ERASE_RGB
    solid, translucent = f"rgb({r}, {g}, {b})", f"rgba({r}, {g}, {b}, 0.5)"
    if tool == "outline":
        return {"drawing_mode": "freedraw", "stroke_color": solid,
                "fill_color": "rgba(0, 0, 0, 0)", "stroke_width": OUTLINE_WIDTH}
    if tool == "brush":
        return {"drawing_mode": "freedraw", "stroke_color": translucent,
                "fill_color": "rgba(0, 0, 0, 0)", "stroke_width": int(brush_size)}
    return {"drawing_mode": "polygon", "stroke_color": solid,
            "fill_color": f"rgba({r}, {g}, {b}, 0.3)", "stroke_width": POLYGON_WIDTH}


def object_kind(obj: dict) -> tuple[str, str]:
    """(tool, mode) of a canvas object, read back from its type and stroke colour.

    >>> object_kind({"type": "Path", "stroke": "rgba(255, 0, 200, 0.5)"})
    ('brush', 'erase')
    """
    kind = obj.get("type")
    match = _COLOUR.match(str(obj.get("stroke") or ""))
    rgb = tuple(int(v) for v in match.groups()[:3]) if match else ADD_RGB
    mode = "erase" if rgb == ERASE_RGB else "add"
    if kind == "Polygon":
        return "polygon", mode
    if kind == "Path":
        return ("brush" if match and match.group(4) is not None else "outline"), mode
    raise MaskError(f"Cannot turn a canvas object of type {kind!r} into a mask.")


# -- geometry -----------------------------------------------------------------------------------
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


def object_region(obj: dict, shape, *, canvas_size) -> np.ndarray:
    """The pixels of a mask of ``shape`` that a canvas object covers.

    ``canvas_size`` is the canvas (width, height): the canvas shows the frame enlarged, so
    canvas coordinates are scaled down to the mask's pixels (pixel centres at +0.5).
    """
    tool, _ = object_kind(obj)
    points = object_points(obj)
    height, width = shape
    scale = np.array([width / canvas_size[0], height / canvas_size[1]])
    points_rc = (points * scale - 0.5)[:, ::-1]  # (x, y) canvas -> (row, col) pixel centres
    stroke = float(obj.get("strokeWidth") or 0) * float(scale.mean())
    stroke *= (abs(obj.get("scaleX", 1)) + abs(obj.get("scaleY", 1))) / 2
    line = _near_polyline(shape, points_rc, stroke / 2)
    if tool == "brush":
        return line
    if tool == "outline" and not is_closed(points):
        return line  # an open outline only marks its line; the page asks to close it
    return line | _inside_polygon(shape, points_rc)


def apply_objects(base: np.ndarray, objects, *, canvas_size, cache: dict | None = None) -> np.ndarray:
    """``base`` (bool, True = cell) with canvas objects painted on top, in drawing order.

    ``"add"`` objects paint cell, ``"erase"`` objects paint background. ``cache`` (a dict
    kept by the caller) remembers each object's pixels between calls.

    >>> base = np.zeros((4, 4), bool)
    >>> square = {"type": "Polygon", "stroke": "rgb(0, 230, 64)", "strokeWidth": 0,
    ...           "left": 4, "top": 4, "originX": "center", "originY": "center",
    ...           "points": [{"x": 0, "y": 0}, {"x": 8, "y": 0}, {"x": 8, "y": 8}, {"x": 0, "y": 8}]}
    >>> int(apply_objects(base, [square], canvas_size=(8, 8)).sum())
    16
    """
    cell = np.array(base, dtype=bool, copy=True)
    for obj in objects:
        _, mode = object_kind(obj)
        if cache is None:
            region = object_region(obj, cell.shape, canvas_size=canvas_size)
        else:  # a page redraws the mask after every stroke: rasterise each stroke once
            key = (json.dumps(obj, sort_keys=True), tuple(canvas_size), cell.shape)
            if key not in cache:
                cache[key] = object_region(obj, cell.shape, canvas_size=canvas_size)
            region = cache[key]
        cell[region] = mode == "add"
    return cell
