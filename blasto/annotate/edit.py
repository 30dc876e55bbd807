"""One editing visit of one frame: the saved mask it started from, the strokes since, undo and
redo one stroke at a time, clear, and save (the mask as the lab's PNG, the strokes beside it).

:func:`overlay` is what the canvas shows under the strokes: the frame enlarged, the mask
translucent with an opaque edge.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json

import numpy as np

from blasto.annotate.plan import add_frame, frames_to_annotate
from blasto.annotate.strokes import apply_objects, object_kind
from blasto.errors import MaskError
from blasto.masks import outline
from blasto.store import atomic

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
