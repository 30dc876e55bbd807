"""An experiment's manifest: what it was cropped from, its grid and pools, cleaning, split,
annotation plan and units, as typed objects.

The manifest is ``manifest.json`` in the experiment folder. :meth:`Manifest.from_dict` reads any
schema this blasto knows (old ones are migrated in memory, and written in the current schema at
the next save) and refuses a newer one; :meth:`Manifest.to_dict` is what is written. Keys this
version does not know are kept in :attr:`Manifest.extra` and written back, so nothing a newer
tool or a person added is lost.

Schemas:

* 1 (round 1): the same keys as today, ``source`` without ``pixel_size_um``.
* 2: ``source.pixel_size_um`` (the pixel size the movie file states), pool boxes required.

>>> m = Manifest.new("plate1")
>>> m.split.side_of(3) is None, m.annotation.every
(True, 15)
>>> Manifest.from_dict(m.to_dict()) == m
True
"""

from __future__ import annotations

import dataclasses
import types
import typing
import datetime as _dt
from dataclasses import dataclass, field

import numpy as np

from blasto.errors import BlastoError, ExperimentError

SCHEMA_VERSION = 2
#: Working size of a pool movie (square, pixels), unless the experiment says otherwise.
DEFAULT_SIZE = 256
#: Hand annotation of every 15th frame, as the lab does.
ANNOTATE_EVERY = 15
#: The two sides of the split.
SIDES = ("train", "validation")
#: Smallest crop box side (source pixels) a grid may produce.
MIN_BOX = 8
#: Bounds on what a manifest may say (a hand edit beyond them is refused as damage).
MAX_POOLS, MAX_SIZE, MAX_FRAMES = 10_000, 8192, 10_000_000


@dataclass(frozen=True)
class Grid:
    """Outer bounds of a ``rows`` x ``cols`` grid of pools, in source pixels (bottom and right
    exclusive). Pools are numbered from 1, row by row, as the lab counts them.

    >>> Grid(rows=2, cols=2, top=0, left=10, bottom=100, right=110).boxes()
    [(0, 10, 50, 60), (0, 60, 50, 110), (50, 10, 100, 60), (50, 60, 100, 110)]
    """

    rows: int
    cols: int
    top: int
    left: int
    bottom: int
    right: int

    def boxes(self) -> list[tuple[int, int, int, int]]:
        """(top, left, bottom, right) of each pool's box, pool 1 first, row by row."""
        ys = np.rint(np.linspace(self.top, self.bottom, self.rows + 1)).astype(int)
        xs = np.rint(np.linspace(self.left, self.right, self.cols + 1)).astype(int)
        return [(int(ys[r]), int(xs[c]), int(ys[r + 1]), int(xs[c + 1]))
                for r in range(self.rows) for c in range(self.cols)]

    @property
    def n_pools(self) -> int:
        return self.rows * self.cols

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Grid":
        return cls(**{key: int(data[key]) for key in ("rows", "cols", "top", "left", "bottom", "right")})

    def check(self, *, height: int, width: int, source="the movie") -> "Grid":
        """Return the grid if it fits a ``height`` x ``width`` frame, else raise BlastoError.

        >>> Grid(4, 4, 0, 0, 100, 100).check(height=90, width=100)
        Traceback (most recent call last):
        ...
        blasto.errors.BlastoError: Grid bottom 100 is outside the movie (frames are 100x90 pixels).
        """
        if self.rows < 1 or self.cols < 1:
            raise BlastoError(f"A grid needs at least 1 row and 1 column (got {self.rows}x{self.cols}).")
        for name, value, limit in (("top", self.top, height), ("left", self.left, width),
                                   ("bottom", self.bottom, height), ("right", self.right, width)):
            if not 0 <= value <= limit:
                raise BlastoError(
                    f"Grid {name} {value} is outside {source} (frames are {width}x{height} pixels)."
                )
        box_h = (self.bottom - self.top) / self.rows
        box_w = (self.right - self.left) / self.cols
        if min(box_h, box_w) < MIN_BOX:
            raise BlastoError(
                f"Grid boxes would be {box_w:.0f}x{box_h:.0f} pixels: too small (at least "
                f"{MIN_BOX}x{MIN_BOX}); check the margins and the numbers of rows and columns."
            )
        return self


@dataclass(frozen=True)
class Pool:
    """One pool: its number (from 1) and its box (top, left, bottom, right) in source pixels."""

    number: int
    box: tuple[int, int, int, int]


@dataclass
class SourceMovie:
    """The plate movie an experiment was cropped from, as it was when cropped."""

    path: str
    n_frames: int
    height: int
    width: int
    frame_interval_s: float | None = None
    pixel_size_um: float | None = None


@dataclass
class Background:
    """How the pools' dark corners were cleaned (None until they are)."""

    tolerance: float | None = None
    fill_value: int | None = None
    cleaned: bool = False


@dataclass
class Split:
    """Train and validation pools: by pool, never by frame."""

    train: list[int] = field(default_factory=list)
    validation: list[int] = field(default_factory=list)

    def side_of(self, pool: int) -> str | None:
        """'train', 'validation' or None."""
        if pool in self.train:
            return "train"
        if pool in self.validation:
            return "validation"
        return None

    def pools(self, side: str) -> list[int]:
        if side not in SIDES:
            raise ExperimentError(f"Unknown side {side!r}: use 'train' or 'validation'.")
        return self.train if side == "train" else self.validation


@dataclass
class AnnotationPlan:
    """Which frames get a hand mask: every Nth of every pool, plus and minus single frames."""

    every: int = ANNOTATE_EVERY
    added: dict[int, list[int]] = field(default_factory=dict)
    removed: dict[int, list[int]] = field(default_factory=dict)


@dataclass
class Manifest:
    """Everything an experiment records about itself (``manifest.json``)."""

    name: str
    created: str
    source: SourceMovie | None = None
    grid: Grid | None = None
    size: int = DEFAULT_SIZE
    pools: list[Pool] = field(default_factory=list)
    background: Background = field(default_factory=Background)
    split: Split = field(default_factory=Split)
    annotation: AnnotationPlan = field(default_factory=AnnotationPlan)
    frame_interval_s: float | None = None
    pixel_size_um: float | None = None
    notes: str = ""
    #: Keys this version does not model (e.g. the demo's ``demo`` record), kept as they are.
    extra: dict = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def new(cls, name: str, *, size: int = DEFAULT_SIZE) -> "Manifest":
        created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        return cls(name=name, created=created, size=int(size))

    # -- pools ----------------------------------------------------------------------------
    def pool(self, number: int) -> Pool:
        for pool in self.pools:
            if pool.number == int(number):
                return pool
        raise ExperimentError(f"Pool {number} is not in experiment {self.name!r}.")

    def source_pixels_per_working_pixel(self, number: int) -> float:
        """Source-pixel area of one working pixel of a pool (multiply areas by it).

        >>> m = Manifest.new("a", size=256); m.pools = [Pool(1, (0, 0, 512, 512))]
        >>> m.source_pixels_per_working_pixel(1)
        4.0
        """
        top, left, bottom, right = self.pool(number).box
        return (bottom - top) / self.size * (right - left) / self.size

    # -- reading and writing --------------------------------------------------------------
    def to_dict(self) -> dict:
        values = {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "created": self.created,
            "source": dataclasses.asdict(self.source) if self.source else None,
            "grid": self.grid.to_dict() if self.grid else None,
            "size": self.size,
            "pools": [{"number": p.number, "box": list(p.box)} for p in self.pools],
            "background": dataclasses.asdict(self.background),
            "split": dataclasses.asdict(self.split),
            "annotation": {
                "every": self.annotation.every,
                # JSON keys are strings.
                "added": {str(k): v for k, v in sorted(self.annotation.added.items())},
                "removed": {str(k): v for k, v in sorted(self.annotation.removed.items())},
            },
            "frame_interval_s": self.frame_interval_s,
            "pixel_size_um": self.pixel_size_um,
            "notes": self.notes,
        }
        return {**self.extra, **values}

    @classmethod
    def from_dict(cls, values: dict, *, source: str = "manifest", name: str | None = None) -> "Manifest":
        """Read a manifest of any known schema; ``source`` names the file in messages, ``name``
        is the experiment folder's name (a copied folder keeps its own name)."""
        if not isinstance(values, dict):
            raise ExperimentError(f"{source}: the manifest is not a JSON object.")
        version = values.get("schema_version", 1)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise ExperimentError(f"{source}: written by a newer blasto (schema {version}); "
                                  "update blasto to open it.")
        values = dict(values)
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        try:
            return cls(
                name=name or str(values.get("name") or ""),
                created=str(values.get("created") or ""),
                source=SourceMovie(**known_fields(SourceMovie, values["source"])) if values.get("source") else None,
                grid=Grid.from_dict(values["grid"]) if values.get("grid") else None,
                size=_bounded(values.get("size") or DEFAULT_SIZE, "size", 1, MAX_SIZE),
                pools=[_pool(p) for p in values.get("pools") or []],
                background=Background(**known_fields(Background, values.get("background"))),
                split=Split(**{side: [int(p) for p in (values.get("split") or {}).get(side) or []]
                               for side in SIDES}),
                annotation=_annotation_plan(values.get("annotation") or {}),
                frame_interval_s=_float_or_none(values.get("frame_interval_s")),
                pixel_size_um=_float_or_none(values.get("pixel_size_um")),
                notes=str(values.get("notes") or ""),
                extra={k: v for k, v in values.items() if k not in known},
            )
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            # A hand-edited or torn file: a list where an object belongs, "x" or 1e400 where a
            # number belongs, ...
            raise ExperimentError(f"{source}: the manifest is damaged ({type(exc).__name__}: {exc}); "
                                  "restore it from a backup or crop the plate again.") from None


def _bounded(value, what: str, low: int, high: int) -> int:
    """``value`` as an int in ``low..high``, else a ValueError naming ``what`` (a hand edit)."""
    number = int(value)  # "3" and 3.0 read as 3, as they always did; 1e400 overflows
    if isinstance(value, bool) or not low <= number <= high:
        raise ValueError(f"{what} {value!r} is not a whole number in {low}..{high}")
    return number


def _pool(values: dict) -> Pool:
    """A pool entry of the manifest: a number and a box with top < bottom, left < right."""
    number = _bounded(values["number"], "pool number", 1, MAX_POOLS)
    box = tuple(_bounded(v, f"pool {number}'s box", 0, 2 ** 31) for v in values["box"])
    if len(box) != 4 or box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f"pool {number}'s box {list(box)} is not top, left, bottom, right")
    return Pool(number, box)


def _annotation_plan(values: dict) -> AnnotationPlan:
    def frames_by_pool(mapping):
        return {_bounded(pool, "pool number", 1, MAX_POOLS):
                sorted(_bounded(f, "frame", 0, MAX_FRAMES) for f in frames)
                for pool, frames in (mapping or {}).items()}

    return AnnotationPlan(every=_bounded(values.get("every") or ANNOTATE_EVERY, "every", 1, MAX_FRAMES),
                          added=frames_by_pool(values.get("added")),
                          removed=frames_by_pool(values.get("removed")))


def known_fields(cls, values, *, typed: bool = False) -> dict:
    """The entries of ``values`` that are fields of the dataclass ``cls``: an older or newer
    writer may add others or lack some (the defaults fill in); anything but a dict (a torn
    file) gives none. ``typed`` also drops values of the wrong type for fields annotated with
    plain types (``int``, ``float | None``, ``str``, ``bool``): a file edited by hand.

    >>> known_fields(Background, {"cleaned": True, "added_later": 1})
    {'cleaned': True}
    >>> known_fields(Background, {"cleaned": True, "tolerance": "x"}, typed=True)
    {'cleaned': True}
    """
    if not isinstance(values, dict):
        return {}
    hints = typing.get_type_hints(cls) if typed else {}
    names = {f.name for f in dataclasses.fields(cls)}
    return {key: value for key, value in values.items()
            if key in names and (key not in hints or _fits(value, hints[key]))}


def _fits(value, hint) -> bool:
    """Whether a JSON value suits a field's type hint (hints other than plain types pass)."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union else (hint,)
    if not all(o in (int, float, str, bool, type(None)) for o in options):
        return True  # containers and the like: left to the reader of that field
    if value is None:
        return type(None) in options
    if isinstance(value, bool):
        return bool in options
    if isinstance(value, int):
        return (int in options or float in options) and abs(value) < 2 ** 53
    if isinstance(value, float):
        return float in options
    return isinstance(value, str) and str in options


def _float_or_none(value) -> float | None:
    return None if value in (None, "") else float(value)
