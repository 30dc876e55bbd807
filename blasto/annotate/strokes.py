"""Hand annotation of pool frames: canvas drawings -> masks, frames to annotate, progress.

The Annotate page draws on ``streamlit-drawable-canvas``, which hands back the drawing as
fabric.js JSON (one object per stroke). Everything that turns those objects into a mask lives
here, without Streamlit, so it can be tested and reused:

* :func:`tool_style` gives the canvas settings of a tool (outline, brush, polygon) in a mode
  (``"add"`` paints cell, ``"erase"`` paints background). The mode and tool are encoded in the
  stroke colour, so each object carries them: the canvas has no eraser, and erasing is just
  painting background (as in napari).
* :func:`apply_objects` rasterises objects, in drawing order, on top of a base mask at the
  mask's resolution (the canvas shows the frame enlarged).
* :class:`FrameEdit` is one editing visit of one frame: the saved mask it started from, the
  strokes since, undo/redo per stroke, clear, dirty flag and :meth:`FrameEdit.save`.
* :func:`frames_to_annotate`, :func:`add_frame`, :func:`remove_frame` and
  :func:`progress_table` manage which frames of each pool get a hand mask.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import re

import numpy as np

from blasto.store import atomic
from blasto.errors import MaskError
from blasto.masks import outline

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


# -- display ------------------------------------------------------------------------------------
MASK_RGB = (255, 210, 0)


def overlay(frame: np.ndarray, cell: np.ndarray | None, *, size: int, opacity: float = 0.35,
            stretch: bool = True) -> np.ndarray:
    """The frame enlarged to ``size`` x ``size`` RGB with the mask as a translucent overlay.

    The mask's edge is drawn opaque so the outline stays visible at low opacity; ``stretch``
    spreads the gray levels (1st-99th percentile) so faint cell edges show.

    >>> overlay(np.zeros((2, 2), np.uint8), np.ones((2, 2), bool), size=4).shape
    (4, 4, 3)
    """
    from PIL import Image

    frame = np.asarray(frame, dtype=np.float32)
    if stretch:
        low, high = np.percentile(frame, [1, 99])
        if high > low:
            frame = np.clip((frame - low) * (255.0 / (high - low)), 0, 255)
    big = Image.fromarray(frame.astype(np.uint8)).resize((size, size), Image.Resampling.BILINEAR)
    rgb = np.repeat(np.asarray(big, dtype=np.float32)[..., None], 3, axis=-1)
    if cell is not None and np.any(cell):
        mask = np.asarray(Image.fromarray(np.asarray(cell, np.uint8) * 255)
                          .resize((size, size), Image.Resampling.NEAREST)) > 0
        edge = outline(mask, thickness=2)
        colour = np.array(MASK_RGB, dtype=np.float32)
        rgb[mask] = (1 - opacity) * rgb[mask] + opacity * colour
        rgb[edge] = colour
    return rgb.astype(np.uint8)


# -- one editing visit of one frame ---------------------------------------------------------------
class FrameEdit:
    """Editing one frame: the saved mask it started from plus the strokes drawn since.

    The canvas reports its objects after every stroke (:meth:`update`); undo, redo and clear
    change the state here and bump :attr:`revision`, which tells the page to re-create the
    canvas with :attr:`objects` as its initial drawing. Every stroke is one undo step.

    >>> edit = FrameEdit(pool=1, frame=0, base=np.zeros((4, 4), bool), canvas_size=(8, 8))
    >>> edit.update([{"type": "Path", "stroke": "rgb(0, 230, 64)", "path": [["M", 1, 1]]}])
    True
    >>> edit.dirty, edit.undo(), len(edit.objects), edit.dirty
    (True, True, 0, False)
    """

    def __init__(self, *, pool: int, frame: int, base: np.ndarray, canvas_size,
                 had_mask: bool = False, earlier_visits=()):
        self.pool, self.frame = int(pool), int(frame)
        self.base = np.array(base, dtype=bool)
        self.canvas_size = (int(canvas_size[0]), int(canvas_size[1]))
        self.had_mask = bool(had_mask)
        self.earlier_visits = list(earlier_visits)
        self.objects: list[dict] = []
        self.base_cleared = False
        self.revision = 0
        self._past: list[tuple[bool, list]] = []
        self._future: list[tuple[bool, list]] = []
        self._saved = (False, [])
        self._regions: dict = {}  # rasterised strokes, so a redraw does not redo them all

    @classmethod
    def open(cls, experiment, pool: int, frame: int, *, canvas_size) -> "FrameEdit":
        """Start editing a frame from its saved mask (empty if it has none)."""
        size = experiment.size
        saved = experiment.read_mask(pool, frame)
        base = saved if saved is not None else np.zeros((size, size), dtype=bool)
        return cls(pool=pool, frame=frame, base=base, canvas_size=canvas_size,
                   had_mask=saved is not None,
                   earlier_visits=read_strokes(experiment, pool, frame).get("visits", []))

    # state
    def _state(self):
        return (self.base_cleared, list(self.objects))

    def _restore(self, state):
        self.base_cleared, self.objects = state[0], list(state[1])
        self.revision += 1

    @property
    def mask(self) -> np.ndarray:
        """The mask as it would be saved now (bool, True = cell)."""
        start = np.zeros_like(self.base) if self.base_cleared else self.base
        return apply_objects(start, self.objects, canvas_size=self.canvas_size,
                             cache=self._regions)

    @property
    def dirty(self) -> bool:
        """Whether there is something not saved yet."""
        return self._state() != self._saved

    @property
    def can_undo(self) -> bool:
        return bool(self._past)

    @property
    def can_redo(self) -> bool:
        return bool(self._future)

    @property
    def initial_drawing(self) -> dict:
        """What the canvas should show when (re-)created: the strokes of this visit."""
        return {"objects": copy.deepcopy(self.objects)}

    def update(self, objects) -> bool:
        """Take the canvas's current objects; returns True if they changed.

        New strokes appended to the current ones become one undo step each; any other change
        (the canvas's own toolbar moved or deleted something) is one step.
        """
        objects = [copy.deepcopy(o) for o in (objects or [])]
        for obj in objects:
            object_kind(obj)  # refuse what cannot become a mask before storing it
        if objects == self.objects:
            return False
        known = len(self.objects)
        if objects[:known] == self.objects:
            for added in range(known, len(objects)):
                self._checkpoint()
                self.objects = objects[: added + 1]
        else:
            self._checkpoint()
            self.objects = objects
        return True

    def undo(self) -> bool:
        """Undo the last stroke (or clear); returns False if there is nothing to undo."""
        return self._step(self._past, self._future)

    def redo(self) -> bool:
        return self._step(self._future, self._past)

    def clear(self) -> None:
        """Start from an empty mask (one undo step)."""
        if not self.base_cleared or self.objects:
            self._checkpoint()
            self._restore((True, []))

    def _checkpoint(self) -> None:
        """Make the current state an undo step (a new change forgets what was undone)."""
        self._past.append(self._state())
        self._future.clear()

    def _step(self, source: list, target: list) -> bool:
        """Undo (past -> future) or redo (future -> past) one step."""
        if not source:
            return False
        target.append(self._state())
        self._restore(source.pop())
        return True

    def save(self, experiment):
        """Write the mask (lab PNG, black = cell) and the strokes behind it, atomically.

        A frame that was not on the list to annotate is put on it: it is annotated now.
        """
        path = experiment.write_mask(self.pool, self.frame, self.mask)
        visit = {"saved": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                 "canvas": list(self.canvas_size), "cleared_base": self.base_cleared,
                 "objects": self.objects}
        atomic.write_json(experiment.strokes_path(self.pool, self.frame), {
            "version": 1, "size": list(self.base.shape),
            "visits": self.earlier_visits + [visit],
        })
        self._saved = self._state()
        self.had_mask = True
        if self.frame not in frames_to_annotate(experiment, self.pool):
            add_frame(experiment, self.pool, self.frame)  # annotated, so wanted
        return path


def read_strokes(experiment, pool: int, frame: int) -> dict:
    """The strokes file of a frame (``{"visits": [...]}``), empty if there is none."""
    path = experiment.strokes_path(pool, frame)
    if not path.exists():
        return {"visits": []}
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MaskError(f"{path}: the strokes file is not valid JSON ({exc}).") from None


def rebuild_mask(strokes: dict, base: np.ndarray) -> np.ndarray:
    """Replay every saved visit of a strokes file on top of ``base`` (the mask before them)."""
    cell = np.array(base, dtype=bool)
    for visit in strokes.get("visits", []):
        if visit.get("cleared_base"):
            cell[:] = False
        cell = apply_objects(cell, visit.get("objects", []), canvas_size=visit["canvas"])
    return cell


# -- which frames to annotate ---------------------------------------------------------------------
def _annotation(experiment) -> dict:
    settings = experiment.manifest.setdefault("annotation", {})
    settings.setdefault("every", 15)
    settings.setdefault("added", {})
    settings.setdefault("removed", {})
    return settings


def frames_to_annotate(experiment, pool: int, *, n_frames: int | None = None) -> list[int]:
    """Frames of ``pool`` meant to get a hand mask: every Nth from 0, plus added, minus removed."""
    settings = _annotation(experiment)
    n_frames = experiment.n_frames(pool) if n_frames is None else n_frames
    every = max(int(settings["every"] or 1), 1)
    frames = set(range(0, n_frames, every))
    frames |= {int(f) for f in settings["added"].get(str(pool), []) if 0 <= int(f) < n_frames}
    frames -= {int(f) for f in settings["removed"].get(str(pool), [])}
    return sorted(frames)


def set_every(experiment, every: int) -> None:
    """Annotate every ``every``-th frame (of every pool); saved in the manifest."""
    every = int(every)
    if every < 1:
        raise MaskError(f"Annotate every {every} frames? Use a whole number of at least 1.")
    _annotation(experiment)["every"] = every
    experiment.save_manifest()


def _toggle(experiment, pool: int, frame: int, *, wanted: bool) -> None:
    settings = _annotation(experiment)
    n_frames = experiment.n_frames(pool)
    if not 0 <= int(frame) < n_frames:
        raise MaskError(f"Pool {pool} has frames 0 to {n_frames - 1}; there is no frame {frame}.")
    key, frame = str(int(pool)), int(frame)
    added = set(settings["added"].get(key, []))
    removed = set(settings["removed"].get(key, []))
    every = max(int(settings["every"] or 1), 1)
    regular = frame % every == 0
    added.discard(frame)
    removed.discard(frame)
    if wanted and not regular:
        added.add(frame)
    if not wanted and regular:
        removed.add(frame)
    settings["added"][key] = sorted(added)
    settings["removed"][key] = sorted(removed)
    experiment.save_manifest()


def add_frame(experiment, pool: int, frame: int) -> None:
    """Put one more frame of ``pool`` on the list to annotate."""
    _toggle(experiment, pool, frame, wanted=True)


def remove_frame(experiment, pool: int, frame: int) -> None:
    """Take a frame of ``pool`` off the list (a saved mask stays, and still trains)."""
    _toggle(experiment, pool, frame, wanted=False)


def next_frame(experiment, pool: int, *, n_frames: int | None = None) -> int | None:
    """The first frame of ``pool`` on the list without a mask, or None if all are done."""
    done = set(experiment.annotated_frames(pool))
    for frame in frames_to_annotate(experiment, pool, n_frames=n_frames):
        if frame not in done:
            return frame
    return None


def progress_rows(experiment, *, n_frames: int | None = None) -> list[dict]:
    """One row per pool: side, frames with a mask, frames on the list, and the next to do.

    ``n_frames``: the pool movies' length, when the caller knows it (else read from a movie).
    """
    rows = []
    pools = experiment.pool_numbers
    if n_frames is None:
        n_frames = experiment.n_frames(pools[0]) if pools else 0
    for pool in pools:
        wanted = frames_to_annotate(experiment, pool, n_frames=n_frames)
        done = set(experiment.annotated_frames(pool))
        todo = [f for f in wanted if f not in done]
        rows.append({
            "pool": pool,
            "side": experiment.split_of(pool) or "-",
            "annotated": len(done),
            "to annotate": len(wanted),
            "left": len(todo),
            "next frame": todo[0] if todo else None,
        })
    return rows


def progress_table(experiment, *, rows: list[dict] | None = None):
    """:func:`progress_rows` (or the ``rows`` it gave) as a pandas DataFrame (for the page)."""
    import pandas as pd

    columns = ["pool", "side", "annotated", "to annotate", "left", "next frame"]
    rows = progress_rows(experiment) if rows is None else rows
    return pd.DataFrame(rows, columns=columns).astype({"next frame": "Int64"})
