"""Editing one mask: the saved mask it started from, the edits since (strokes, proposals),
undo and redo one edit at a time, and saving with provenance and without a stale overwrite.

* A :class:`Slot` names the mask being edited: a pool's frame, or a pair imported from the
  lab's folders (those are masks like any other: visible and editable in Draw).
* A :class:`FrameEdit` holds one slot's edits for the browser session: moving to another frame
  and back keeps its undo history. Every stroke is one undo step, and so is a proposal (a
  model's mask, a copy of another frame, an interpolation) applied to the canvas: the person
  then corrects it like any other mask.
* :meth:`FrameEdit.save` writes the mask (the lab's PNG, black = cell) and the frame's strokes
  file, which records who made the mask: drawn by hand, or proposed by a model / copied /
  interpolated and then accepted or corrected, with how many pixels the person changed
  (:class:`Provenance`). If the saved mask changed on disk since this edit loaded it (another
  tab saved it: the content hash differs), the save stops with :class:`StaleMaskError` and
  the caller chooses: keep mine, take theirs, or merge as union.

:func:`overlay` is the frame enlarged with the mask translucent on top (for static views).
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from blasto.annotate.plan import add_frame, frames_to_annotate
from blasto.annotate.strokes import Stroke, apply_strokes, from_fabric
from blasto.errors import MaskError
from blasto.masks import encode_lab_mask, outline
from blasto.store import atomic

MASK_RGB = (255, 210, 0)
STROKES_VERSION = 2
#: How a saved mask was made, as :class:`Provenance` records it.
ORIGINS = ("hand", "model", "copy", "interpolation", "saved")
RESOLUTIONS = ("mine", "theirs", "union")


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


# -- which mask --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Slot:
    """The mask being edited: frame ``frame`` of pool ``pool``, or (``side`` set) the imported
    lab pair number ``frame`` on that side (``imported/train/mask0003.png`` is 3).

    >>> Slot(pool=2, frame=7).label, Slot(side="train", frame=3).label
    ('pool 2, frame 7', 'imported train pair 3')
    """

    pool: int | None = None
    frame: int = 0
    side: str | None = None

    @property
    def imported(self) -> bool:
        return self.side is not None

    @property
    def label(self) -> str:
        if self.imported:
            return f"imported {self.side} pair {self.frame}"
        return f"pool {self.pool}, frame {self.frame}"

    def mask_path(self, experiment) -> Path:
        if self.imported:
            return experiment.imported_mask_path(self.side, self.frame)
        return experiment.mask_path(self.pool, self.frame)

    def strokes_path(self, experiment) -> Path:
        if self.imported:
            return experiment.imported_strokes_path(self.side, self.frame)
        return experiment.strokes_path(self.pool, self.frame)

    def image(self, experiment) -> np.ndarray:
        """The gray frame (uint8, H x W) the mask belongs to."""
        if self.imported:
            image, _ = experiment.read_imported_pair(
                experiment.imported_image_path(self.side, self.frame), self.mask_path(experiment))
            return image
        return np.asarray(experiment.read_pool_movie(self.pool)[self.frame])

    def read_mask(self, experiment) -> np.ndarray | None:
        if self.imported:
            path = self.mask_path(experiment)
            return experiment.read_imported_pair(
                experiment.imported_image_path(self.side, self.frame), path)[1] \
                if path.exists() else None
        return experiment.read_mask(self.pool, self.frame)

    def write_mask(self, experiment, cell: np.ndarray) -> Path:
        if self.imported:
            path = self.mask_path(experiment)
            atomic.write_png(path, encode_lab_mask(cell))
            return path
        return experiment.write_mask(self.pool, self.frame, cell)


def imported_slots(experiment, side: str) -> list[Slot]:
    """The imported lab pairs on ``side`` as slots, in import order."""
    slots = []
    for image, _ in experiment.imported_pairs(side):
        match = re.search(r"(\d+)", image.stem)
        if match:
            slots.append(Slot(side=side, frame=int(match.group(1))))
    return slots


def mask_hash(cell: np.ndarray | None) -> str | None:
    """Content hash of a mask (None for no mask): what a tab compares before it saves.

    >>> mask_hash(np.zeros((2, 2), bool)) == mask_hash(np.zeros((2, 2), bool)), mask_hash(None)
    (True, None)
    """
    if cell is None:
        return None
    cell = np.asarray(cell, dtype=bool)
    return hashlib.sha1(repr(cell.shape).encode() + np.packbits(cell).tobytes()).hexdigest()[:16]


def pack_mask(cell: np.ndarray) -> str:
    """A mask as short text for a JSON file (bits, zlib, base64); :func:`unpack_mask` reads it.

    >>> cell = np.eye(3, dtype=bool)
    >>> np.array_equal(unpack_mask(pack_mask(cell), cell.shape), cell)
    True
    """
    return base64.b64encode(zlib.compress(np.packbits(np.asarray(cell, bool)).tobytes(), 9)).decode()


def unpack_mask(text: str, shape) -> np.ndarray:
    try:
        bits = np.frombuffer(zlib.decompress(base64.b64decode(text)), np.uint8)
        return np.unpackbits(bits)[: shape[0] * shape[1]].reshape(shape).astype(bool)
    except (ValueError, zlib.error) as exc:
        raise MaskError(f"A packed mask in a strokes file is damaged ({exc}).") from None


# -- edits ---------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Replace:
    """An edit that replaces the whole mask: a proposal (``origin`` model, copy or
    interpolation, ``source`` the text saying which), a clear, or another tab's mask."""

    mask: np.ndarray
    origin: str  # one of ORIGINS, or "clear" / "theirs" / "union"
    source: str

    def to_dict(self) -> dict:
        return {"replace": {"origin": self.origin, "source": self.source,
                            "mask": pack_mask(self.mask)}}


def origin_of(source: str) -> str:
    """The :data:`ORIGINS` kind of a proposal's source text (blasto.annotate.propose's).

    >>> origin_of("copy of frame 15"), origin_of("interpolated between frames 15 and 30")
    ('copy', 'interpolation')
    >>> origin_of("model demo")
    'model'
    """
    text = source.lower()
    if text.startswith("copy"):
        return "copy"
    if text.startswith("interpolat"):
        return "interpolation"
    return "model"


def step_from_dict(values: dict, shape):
    if "replace" in values:
        r = values["replace"]
        return Replace(mask=unpack_mask(r["mask"], shape), origin=str(r.get("origin", "model")),
                       source=str(r.get("source", "")))
    return Stroke.from_dict(values.get("stroke", values))


def step_to_dict(step) -> dict:
    return step.to_dict() if isinstance(step, Replace) else {"stroke": step.to_dict()}


def apply_steps(base: np.ndarray, steps, *, cache: dict | None = None) -> np.ndarray:
    """``base`` with edits applied in order: strokes paint, a :class:`Replace` replaces."""
    cell = np.array(base, dtype=bool)
    for step in steps:
        if isinstance(step, Replace):
            cell = np.array(step.mask, dtype=bool)
        else:
            cell = apply_strokes(cell, [step], cache=cache)
    return cell


@dataclass(frozen=True)
class Provenance:
    """Who made a saved mask. ``origin``: hand, model, copy, interpolation, or saved (a mask
    that was there before any strokes were recorded: imported, or drawn in round 1);
    ``source``: which (e.g. "model demo", "copy of frame 15"); ``pixels_changed``: pixels the
    person changed from what they started from (the proposal, the saved mask; for a mask
    drawn by hand from nothing, its area).

    >>> Provenance("model", "model demo", 0).text
    'proposed by model demo, accepted'
    >>> Provenance("model", "model demo", 312).text
    'proposed by model demo, corrected (312 pixels changed by hand)'
    """

    origin: str
    source: str
    pixels_changed: int

    @property
    def status(self) -> str:
        if self.origin == "hand":
            return "drawn by hand"
        return "accepted" if self.pixels_changed == 0 else "corrected"

    @property
    def text(self) -> str:
        if self.origin == "hand":
            return f"drawn by hand ({self.pixels_changed} pixels)"
        what = {"model": f"proposed by {self.source}", "saved": self.source or "saved mask"}.get(
            self.origin, self.source)
        if not self.pixels_changed:
            return f"{what}, accepted"
        return f"{what}, corrected ({self.pixels_changed} pixels changed by hand)"

    def to_dict(self) -> dict:
        return {"origin": self.origin, "source": self.source, "status": self.status,
                "pixels_changed": int(self.pixels_changed), "text": self.text}


def provenance_of(start: np.ndarray | None, steps, final: np.ndarray) -> Provenance:
    """The provenance of ``final``, made by ``steps`` (all visits, in order) from ``start``
    (the mask before the first recorded visit, None if there was none)."""
    reference, origin, source = start, ("saved" if start is not None else "hand"), (
        "saved mask" if start is not None else "")
    for step in steps:
        if isinstance(step, Replace) and step.origin in ORIGINS:
            reference, origin, source = step.mask, step.origin, step.source
    if reference is None:
        reference = np.zeros_like(final)
    return Provenance(origin, source, int(np.count_nonzero(np.asarray(final) ^ reference)))


class StaleMaskError(MaskError):
    """The saved mask changed on disk since this edit loaded it: keep mine, take theirs, or
    merge as union (``FrameEdit.save(..., resolve=...)``)."""

    def __init__(self, slot: Slot, theirs: np.ndarray | None):
        self.slot, self.theirs = slot, theirs
        super().__init__(f"The mask of {slot.label} was saved from another tab (or changed on "
                         "disk) since you opened it: keep yours, take theirs, or merge both.")


@dataclass(frozen=True)
class SaveResult:
    path: Path
    provenance: Provenance


# -- one mask, edited for a browser session ------------------------------------------------------
class FrameEdit:
    """Editing one mask: the saved mask it started from plus the edits since.

    Every change (a stroke, a proposal, a clear) is one undo step and bumps :attr:`revision`.

    >>> edit = FrameEdit(slot=Slot(pool=1, frame=0), base=np.zeros((4, 4), bool))
    >>> edit.add_stroke(Stroke("polygon", "add", ((0, 0), (4, 0), (4, 4), (0, 4))))
    >>> int(edit.mask.sum()), edit.dirty, edit.undo(), int(edit.mask.sum()), edit.dirty
    (16, True, True, 0, False)
    """

    def __init__(self, *, slot: Slot, base: np.ndarray, had_mask: bool = False,
                 base_hash: str | None = None, history: dict | None = None):
        self.slot = slot
        self.base = np.array(base, dtype=bool)
        self.had_mask = bool(had_mask)
        self.base_hash = base_hash if base_hash is not None or not had_mask else mask_hash(base)
        history = history or {}
        self._earlier_visits = list(history.get("visits", []))  # as read, for the next save
        self._earlier_steps = list(history.get("steps", []))
        self._start = history.get("start", self.base if had_mask else None)
        self.steps: list = []
        self.revision = 0
        self._past: list[list] = []
        self._future: list[list] = []
        self._saved: list = []
        self._cache: dict = {}
        self._masks: list[tuple[object, np.ndarray]] = []  # mask after each step, reused

    @classmethod
    def open(cls, experiment, slot: Slot) -> "FrameEdit":
        """Start editing a mask from its saved state (empty if it has none)."""
        size = experiment.size
        saved = slot.read_mask(experiment)
        shape = saved.shape if saved is not None else (size, size)
        base = saved if saved is not None else np.zeros(shape, dtype=bool)
        history = read_history(read_strokes_file(slot.strokes_path(experiment)), shape)
        if not history["visits"]:
            history["start"] = saved
        return cls(slot=slot, base=base, had_mask=saved is not None, base_hash=mask_hash(saved),
                   history=history)

    # state
    @property
    def mask(self) -> np.ndarray:
        """The mask as it would be saved now (bool, True = cell)."""
        cell, kept = self.base, 0
        for (step, known), now in zip(self._masks, self.steps):
            if step is not now:
                break
            cell, kept = known, kept + 1
        self._masks = self._masks[:kept]
        for step in self.steps[kept:]:
            cell = apply_steps(cell, [step], cache=self._cache)
            self._masks.append((step, cell))
        return cell.copy()

    @property
    def dirty(self) -> bool:
        """Whether there is something not saved yet."""
        return len(self.steps) != len(self._saved) or any(
            a is not b for a, b in zip(self.steps, self._saved))

    @property
    def can_undo(self) -> bool:
        return bool(self._past)

    @property
    def can_redo(self) -> bool:
        return bool(self._future)

    @property
    def proposal(self) -> Replace | None:
        """The last proposal applied in this visit, if it is not undone."""
        return next((s for s in reversed(self.steps)
                     if isinstance(s, Replace) and s.origin in ORIGINS), None)

    def provenance(self) -> Provenance:
        """What the saved strokes file would record now."""
        return provenance_of(self._start, self._earlier_steps + self.steps, self.mask)

    # edits
    def _change(self, steps: list) -> None:
        self._past.append(list(self.steps))
        self._future.clear()
        self.steps = steps
        self.revision += 1

    def add_stroke(self, stroke: Stroke) -> None:
        """Paint one stroke (one undo step)."""
        self._change(self.steps + [stroke])

    def replace(self, mask: np.ndarray, *, origin: str, source: str) -> None:
        """Replace the whole mask (one undo step): a proposal, a clear, another tab's mask."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != self.base.shape:
            raise MaskError(f"A mask of {mask.shape[1]}x{mask.shape[0]} pixels cannot replace "
                            f"the {self.base.shape[1]}x{self.base.shape[0]} mask of "
                            f"{self.slot.label}.")
        self._change(self.steps + [Replace(mask=mask.copy(), origin=origin, source=source)])

    def propose(self, mask: np.ndarray, source: str) -> None:
        """Apply a proposal (e.g. a :class:`blasto.annotate.propose.Proposal`'s mask and
        source) as one ordinary edit."""
        self.replace(mask, origin=origin_of(source), source=source)

    def clear(self) -> None:
        """Start from an empty mask (one undo step)."""
        if self.mask.any():
            self.replace(np.zeros_like(self.base), origin="clear", source="cleared")

    def undo(self) -> bool:
        """Undo the last edit; returns False if there is nothing to undo."""
        return self._step(self._past, self._future)

    def redo(self) -> bool:
        return self._step(self._future, self._past)

    def _step(self, source: list, target: list) -> bool:
        if not source:
            return False
        target.append(list(self.steps))
        self.steps = source.pop()
        self.revision += 1
        return True

    # saving
    def disk_changed(self, experiment) -> tuple[bool, np.ndarray | None]:
        """(changed, theirs): whether the saved mask is no longer the one this edit loaded."""
        theirs = self.slot.read_mask(experiment)
        return mask_hash(theirs) != self.base_hash, theirs

    def save(self, experiment, *, resolve: str | None = None) -> SaveResult:
        """Write the mask (lab PNG, black = cell) and the strokes file behind it, atomically.

        Refuses with :class:`StaleMaskError` when the saved mask changed on disk since this
        edit loaded (or last saved) it, unless ``resolve`` says what to do: ``"mine"`` saves
        this mask over it, ``"theirs"`` takes the saved one (one undo step, nothing written),
        ``"union"`` saves the union of both. A pool frame that was not on the list to annotate
        is put on it: it is annotated now.
        """
        if resolve is not None and resolve not in RESOLUTIONS:
            raise MaskError(f"Unknown way to resolve a conflict {resolve!r}: use "
                            f"{', '.join(RESOLUTIONS)}.")
        changed, theirs = self.disk_changed(experiment)
        if changed:
            if resolve is None:
                raise StaleMaskError(self.slot, theirs)
            if resolve == "theirs":
                if theirs is None:
                    theirs = np.zeros_like(self.base)
                self.replace(theirs, origin="theirs", source="the mask saved in another tab")
                self._adopt_disk(experiment, theirs)
                return SaveResult(self.slot.mask_path(experiment), self.provenance())
            if resolve == "union" and theirs is not None:
                self.replace(self.mask | theirs, origin="union",
                             source="union with the mask saved in another tab")
            # the other tab's save becomes the start of this visit's record
            self._rebase(experiment)
        final = self.mask
        path = self.slot.write_mask(experiment, final)
        provenance = self.provenance()
        visit = {"saved": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                 "steps": [step_to_dict(s) for s in self.steps]}
        if not self._earlier_visits and self._start is not None:
            visit["start"] = pack_mask(self._start)
        atomic.write_json(self.slot.strokes_path(experiment), {
            "version": STROKES_VERSION, "size": list(self.base.shape),
            "provenance": provenance.to_dict(), "visits": self._earlier_visits + [visit]})
        self._earlier_visits.append(visit)
        self._earlier_steps.extend(self.steps)
        self._saved = list(self.steps)
        self.base_hash = mask_hash(final)
        self.had_mask = True
        if not self.slot.imported and self.slot.frame not in frames_to_annotate(
                experiment, self.slot.pool):
            add_frame(experiment, self.slot.pool, self.slot.frame)  # annotated, so wanted
        return SaveResult(path, provenance)

    def _rebase(self, experiment) -> None:
        """Another tab saved: its strokes file is the history this save appends to."""
        history = read_history(read_strokes_file(self.slot.strokes_path(experiment)),
                               self.base.shape)
        self._earlier_visits = history["visits"]
        self._earlier_steps = history["steps"]
        if history["visits"]:
            self._start = history["start"]

    def _adopt_disk(self, experiment, theirs) -> None:
        self._rebase(experiment)
        self._saved = list(self.steps)
        self.base_hash = mask_hash(self.slot.read_mask(experiment))
        self.had_mask = self.base_hash is not None


# -- strokes files -------------------------------------------------------------------------------
def read_strokes_file(path) -> dict:
    """A strokes file as written (``{"visits": [...]}``), empty if there is none."""
    path = Path(path)
    if not path.exists():
        return {"visits": []}
    try:
        values = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MaskError(f"{path}: the strokes file is not valid JSON ({exc}).") from None
    if not isinstance(values, dict) or not isinstance(values.get("visits", []), list):
        raise MaskError(f"{path}: not a strokes file (no list of visits).")
    return values


def read_strokes(experiment, pool: int, frame: int) -> dict:
    """The strokes file of a pool frame (``{"visits": [...]}``), empty if there is none."""
    return read_strokes_file(experiment.strokes_path(pool, frame))


def read_history(strokes: dict, shape) -> dict:
    """A strokes file's visits in the current form (round 1's fabric objects migrated to
    strokes), its edits in order, and the mask the first visit started from (None if none).
    """
    visits, steps, start = [], [], None
    for number, visit in enumerate(strokes.get("visits", [])):
        try:
            if "objects" in visit:  # round 1: fabric objects on an enlarged canvas
                canvas = visit.get("canvas") or [shape[1] * 2, shape[0] * 2]
                found = [from_fabric(o, canvas_size=canvas, shape=shape)
                         for o in visit.get("objects", [])]
                if visit.get("cleared_base"):
                    found.insert(0, Replace(np.zeros(shape, bool), "clear", "cleared"))
                visit = {"saved": visit.get("saved"), "steps": [step_to_dict(s) for s in found]}
            else:
                found = [step_from_dict(s, shape) for s in visit.get("steps", [])]
            if number == 0 and visit.get("start"):
                start = unpack_mask(visit["start"], shape)
        except (KeyError, TypeError, AttributeError) as exc:
            raise MaskError(f"A strokes file has a damaged visit ({exc!r}).") from None
        visits.append(visit)
        steps.extend(found)
    return {"visits": visits, "steps": steps, "start": start}


def read_provenance(experiment, slot: Slot) -> Provenance | None:
    """The provenance recorded for a saved mask, None if its strokes file has none."""
    values = read_strokes_file(slot.strokes_path(experiment)).get("provenance")
    if not isinstance(values, dict):
        return None
    return Provenance(str(values.get("origin", "hand")), str(values.get("source", "")),
                      int(values.get("pixels_changed", 0)))


def rebuild_mask(strokes: dict, base: np.ndarray) -> np.ndarray:
    """Replay every saved visit of a strokes file on top of ``base`` (the mask before them)."""
    history = read_history(strokes, np.shape(base))
    return apply_steps(base, history["steps"])
