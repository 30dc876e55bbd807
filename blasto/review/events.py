"""Expansion and collapse events from a cell's area curve.

A blastocyst expands (its cavity fills), and now and then **collapses**: the trophectoderm lets
go, the cavity empties within minutes, and the cell re-expands over the next hours. The field
defines a collapse as a loss of at least 50 % of the blastocyst's volume (Marcos et al.,
"Collapse of blastocysts is strongly related to lower implantation success", Hum Reprod 2015;
the Edinburgh and later EmbryoScope time-lapse studies use the same definition). A movie shows
projected area, not volume: for a sphere, area ~ volume^(2/3), so half the volume is
1 - 0.5^(2/3) = 37 % of the area. Hence the defaults of :class:`EventSettings`:

- a **collapse** is an area drop of at least ``drop_percent`` (37 %) from the running peak
  (the largest area, on a 3-frame median against single noisy frames, since the previous
  collapse's bottom and within the window),
  reached within ``within_minutes`` (120 min: a collapse takes minutes, a slow decline or a
  dying cell takes hours and is not one);
- its **start** is the last frame near the running peak (within a quarter of the drop)
  before the drop; its **bottom** the
  smallest area of the drop; its **depth** the loss at the bottom, in % of that peak;
- it has **recovered** at the first frame after the bottom whose area is back to
  ``recover_fraction`` (90 %) of the pre-collapse peak, else it is "not recovered";
- the **expansion rate** is the mean slope (area units per hour) of the rising steps of the
  curve, smoothed over an hour, outside collapses (start to recovery): how fast it grows;
- the time of **maximum expansion** is the frame where the smoothed curve is largest.

Where a pool holds two cells, one cell's collapse is only half a drop of the pool's area:
:func:`cell_areas` splits a pool's masks into one curve per cell (the connected parts of the
masks' union over time) and :func:`detect_cell_events` finds the collapses of each cell.

>>> area = np.r_[np.linspace(1000, 2000, 20), [1100, 1000], np.linspace(1200, 2100, 10)]
>>> events = detect_events(area, frame_minutes=10, pool=3)
>>> [(c.start_frame, c.bottom_frame, round(c.depth_percent), c.recovery_frame) for c in events.collapses]
[(19, 21, 50, 28)]
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

from blasto.errors import BlastoError

#: Area loss of a sphere that has lost half its volume: 1 - 0.5 ** (2/3) = 0.370.
SPHERE_HALF_VOLUME_AREA_DROP = 1.0 - 0.5 ** (2.0 / 3.0)

#: The curve is smoothed over about this long for the expansion rate and maximum expansion.
SMOOTH_MINUTES = 60.0


@dataclass(frozen=True)
class EventSettings:
    """What counts as a collapse (defaults: the field's definition, see the module's docstring).

    drop_percent: area drop from the running peak, in % (37: half the volume of a sphere).
    within_minutes: the drop must happen within this time.
    recover_fraction: recovered when the area is back to this fraction of the pre-collapse peak.

    >>> EventSettings().describe()
    'collapse: area drop >= 37 % within 120 min; recovered at 90 % of the pre-collapse peak'
    >>> EventSettings(drop_percent=120)
    Traceback (most recent call last):
    ...
    blasto.errors.BlastoError: Collapse drop 120 % must be between 0 and 100 %.
    """

    drop_percent: float = 37.0
    within_minutes: float = 120.0
    recover_fraction: float = 0.9

    def __post_init__(self):
        if not 0 < float(self.drop_percent) < 100:
            raise BlastoError(f"Collapse drop {self.drop_percent:g} % must be between 0 and 100 %.")
        if not float(self.within_minutes) > 0:
            raise BlastoError(f"Collapse time window {self.within_minutes:g} min must be positive.")
        if not 0 < float(self.recover_fraction) <= 1:
            raise BlastoError(f"Recovery fraction {self.recover_fraction:g} must be in (0, 1].")

    def describe(self) -> str:
        """One line for tables, CSV exports and captions."""
        return (f"collapse: area drop >= {self.drop_percent:g} % within {self.within_minutes:g} min; "
                f"recovered at {self.recover_fraction * 100:g} % of the pre-collapse peak")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Collapse:
    """One collapse of one cell. ``recovery_frame``/``recovery_hours`` None = not recovered.

    ``cell`` numbers the cells of the pool (1, 2, ... by :func:`cell_areas`); 1 for a pool's
    single curve. ``peak_area`` and ``bottom_area`` are in the curve's units.
    """

    pool: int
    start_frame: int
    start_hours: float
    bottom_frame: int
    depth_percent: float
    recovery_frame: int | None
    recovery_hours: float | None
    cell: int = 1
    peak_area: float = float("nan")
    bottom_area: float = float("nan")

    @property
    def recovered(self) -> bool:
        return self.recovery_frame is not None

    @property
    def hours_to_recover(self) -> float | None:
        """From start to recovery, in hours (None: not recovered)."""
        return None if self.recovery_hours is None else self.recovery_hours - self.start_hours


@dataclass(frozen=True)
class PoolEvents:
    """The events of one pool: its collapses (by start frame), expansion rate and maximum."""

    pool: int
    collapses: tuple[Collapse, ...]
    expansion_rate: float | None  # area units per hour on the rising parts
    max_expansion_frame: int | None
    max_expansion_hours: float | None
    frame_minutes: float = float("nan")
    settings: EventSettings = EventSettings()
    unit: str = "area_px"  # the area column (blasto.review.areas) the rate and peaks are in

    @property
    def n_collapses(self) -> int:
        return len(self.collapses)

    def collapse_frames(self) -> list[int]:
        """Start frames of the collapses, in order."""
        return [c.start_frame for c in self.collapses]


def _check_curve(areas, frame_minutes) -> tuple[np.ndarray, float]:
    areas = np.asarray(areas, dtype=float).ravel()
    if frame_minutes is None or not float(frame_minutes) > 0:
        raise BlastoError("Collapse events need the time between frames: this experiment does not say it "
                          "(set the frame interval, e.g. --frame-minutes 10).")
    if len(areas) and np.isnan(areas).any():
        good = ~np.isnan(areas)
        if not good.any():
            return np.zeros(len(areas)), float(frame_minutes)
        # A frame without a measurement takes its neighbours' value, never a fake drop.
        areas = np.interp(np.arange(len(areas)), np.flatnonzero(good), areas[good])
    return areas, float(frame_minutes)


def find_collapses(areas, *, frame_minutes: float, pool: int = 0, cell: int = 1,
                   settings: EventSettings = EventSettings()) -> tuple[Collapse, ...]:
    """The collapses of one cell's area curve (see the module's docstring for the rules).

    >>> find_collapses([100, 100, 100, 50, 60, 95], frame_minutes=10)[0].recovery_frame
    5
    >>> find_collapses([100, 95, 90, 85, 80, 75, 70, 65, 60, 55, 50], frame_minutes=60)
    ()
    """
    areas, minutes = _check_curve(areas, frame_minutes)
    n = len(areas)
    window = max(1, int(np.floor(settings.within_minutes / minutes + 1e-9)))
    keep = 1.0 - settings.drop_percent / 100.0
    # The running peak is taken on a 3-frame median, so one noisy frame does not raise it;
    # the drop itself is read on the raw curve, so a collapse at the last frame still counts.
    steady = ndimage.median_filter(areas, size=3, mode="nearest") if n >= 3 else areas
    collapses = []
    floor = 0  # the next collapse's peak lies after the previous one's bottom
    t = 1
    while t < n:
        lo = max(floor, t - window)
        segment = steady[lo:t]
        if not len(segment):
            t += 1
            continue
        peak = float(segment.max())
        if not (peak > 0 and areas[t] <= keep * peak):
            t += 1
            continue
        # The start is the last frame near the peak (within a quarter of the drop): the area
        # falls after it. Not the peak itself, which noise may put a few frames earlier.
        top = lo + int(len(segment) - 1 - np.argmax(segment[::-1]))
        near = np.flatnonzero(steady[top:t] >= (1.0 - settings.drop_percent / 400.0) * peak)
        start = top + int(near[-1])
        # The pre-collapse peak: the median's, or the start frame's own area where higher (the
        # median lowers the last frame before a fall to the one before it).
        peak = max(peak, float(areas[start]))
        recover_level = settings.recover_fraction * peak
        later = np.flatnonzero(areas[t:] >= recover_level)
        recovery = t + int(later[0]) if len(later) else None
        # The bottom: the smallest area while it falls, at most one window after the drop.
        stop = min(n, t + window + 1, recovery if recovery is not None else n)
        bottom = t + int(np.argmin(areas[t:stop]))
        collapses.append(Collapse(
            pool=int(pool), start_frame=int(start), start_hours=start * minutes / 60.0,
            bottom_frame=int(bottom), depth_percent=100.0 * (1.0 - areas[bottom] / peak),
            recovery_frame=None if recovery is None else int(recovery),
            recovery_hours=None if recovery is None else recovery * minutes / 60.0,
            cell=int(cell), peak_area=peak, bottom_area=float(areas[bottom])))
        floor = bottom
        t = bottom + 1
    return tuple(collapses)


def smooth(areas, *, frame_minutes: float, minutes: float = SMOOTH_MINUTES) -> np.ndarray:
    """Centred moving average over about ``minutes`` (an odd number of frames; edges: nearest).

    >>> smooth([0, 0, 3, 0, 0], frame_minutes=20).tolist()
    [0.0, 1.0, 1.0, 1.0, 0.0]
    """
    areas = np.asarray(areas, dtype=float)
    size = max(1, int(round(minutes / float(frame_minutes))))
    size += 1 - size % 2
    if size <= 1 or len(areas) < 2:
        return areas.copy()
    return ndimage.uniform_filter1d(areas, size, mode="nearest")


def _expansion(areas, minutes, collapses) -> tuple[float | None, int | None]:
    """(mean rising slope in area units per hour outside collapses, frame of the smoothed maximum)."""
    if not len(areas):
        return None, None
    smoothed = smooth(areas, frame_minutes=minutes)
    steps = np.diff(smoothed) * 60.0 / minutes
    outside = np.ones(len(steps), bool)
    for c in collapses:
        end = c.recovery_frame if c.recovery_frame is not None else len(areas) - 1
        outside[c.start_frame:end] = False
    rising = steps[outside & (steps > 0)]
    rate = float(rising.mean()) if len(rising) else None
    return rate, int(np.argmax(smoothed))


def detect_events(areas, *, frame_minutes: float, pool: int = 0,
                  settings: EventSettings = EventSettings()) -> PoolEvents:
    """Collapses, expansion rate and maximum expansion of one area curve (one value per frame).

    >>> flat = detect_events(np.full(30, 500.0), frame_minutes=10, pool=1)
    >>> flat.collapses, flat.expansion_rate, flat.max_expansion_frame
    ((), None, 0)
    """
    areas, minutes = _check_curve(areas, frame_minutes)
    collapses = find_collapses(areas, frame_minutes=minutes, pool=pool, settings=settings)
    return _pool_events(pool, areas, minutes, collapses, settings)


def _pool_events(pool, total, minutes, collapses, settings) -> PoolEvents:
    rate, peak = _expansion(total, minutes, collapses)
    return PoolEvents(pool=int(pool), collapses=tuple(collapses), expansion_rate=rate,
                      max_expansion_frame=peak,
                      max_expansion_hours=None if peak is None else peak * minutes / 60.0,
                      frame_minutes=minutes, settings=settings)


# -- one curve per cell -----------------------------------------------------------------------
def cell_areas(masks) -> np.ndarray:
    """Cell pixels per frame of each cell of a pool: (cells, T), largest cell first.

    A cell is a connected part of the union of the masks over all frames (cells of one pool
    stay apart; a bubble or debris dropped by the post-processing is not in the masks). Parts
    smaller than a tenth of the largest are left out (stray specks). An empty stack gives one
    curve of zeros.

    >>> m = np.zeros((2, 6, 9), bool); m[:, 1:4, 1:4] = True; m[1, 1:3, 6:8] = True
    >>> cell_areas(m).tolist()
    [[9, 9], [0, 4]]
    """
    stack = np.asarray(masks, bool)
    if stack.ndim != 3:
        raise BlastoError(f"Expected a stack of masks (T, H, W), got shape {stack.shape}.")
    union = stack.any(axis=0)
    labels, count = ndimage.label(union, structure=np.ones((3, 3), bool))
    if count <= 1:
        return stack.reshape(len(stack), -1).sum(axis=1)[None]
    flat = labels.reshape(-1)
    per_frame = stack.reshape(len(stack), -1)
    # (T, count + 1) pixel counts of each label per frame, in one bincount.
    index = (np.arange(len(stack))[:, None] * (count + 1) + flat[None, :])[per_frame]
    counts = np.bincount(index, minlength=len(stack) * (count + 1)).reshape(len(stack), count + 1)[:, 1:]
    order = np.argsort(-counts.max(axis=0), kind="stable")
    counts = counts[:, order]
    big = counts.max(axis=0) >= 0.1 * counts.max()
    return counts[:, big].T


def detect_cell_events(curves, *, frame_minutes: float, pool: int = 0,
                       settings: EventSettings = EventSettings()) -> PoolEvents:
    """Events of a pool from one area curve per cell ((cells, T), e.g. :func:`cell_areas`).

    Collapses are found per cell (numbered 1, 2, ...) and listed by start frame; the expansion
    rate and maximum are those of the pool's total area.

    >>> one = np.r_[np.full(10, 1000.0), [500.0], np.full(10, 1000.0)]
    >>> events = detect_cell_events([np.full(21, 1000.0), one], frame_minutes=10, pool=8)
    >>> [(c.cell, c.start_frame) for c in events.collapses]
    [(2, 9)]
    """
    curves = np.atleast_2d(np.asarray(curves, dtype=float))
    _, minutes = _check_curve(curves.sum(axis=0), frame_minutes)
    collapses = []
    for cell, curve in enumerate(curves, start=1):
        collapses.extend(find_collapses(curve, frame_minutes=minutes, pool=pool, cell=cell, settings=settings))
    collapses.sort(key=lambda c: (c.start_frame, c.cell))
    return _pool_events(pool, curves.sum(axis=0), minutes, collapses, settings)


def events_from_masks(masks, *, frame_minutes: float, pool: int = 0,
                      settings: EventSettings = EventSettings(), scale: float = 1.0) -> PoolEvents:
    """Events of a pool from its measured masks (T, H, W): per-cell collapses, pool expansion.

    ``scale`` converts pixel counts to the unit of the expansion rate (e.g. the area table's
    area_um2 / area_px).
    """
    return detect_cell_events(cell_areas(masks) * float(scale), frame_minutes=frame_minutes, pool=pool,
                              settings=settings)


# -- an experiment's pools ----------------------------------------------------------------------
def experiment_frame_minutes(experiment) -> float:
    """Minutes between frames of ``experiment``, or a BlastoError naming its manifest."""
    interval = experiment.manifest.frame_interval_s
    if not interval:
        raise BlastoError(f"{experiment.path / 'manifest.json'}: no frame interval, so no times for collapse events.")
    return float(interval) / 60.0


def unit_scale(experiment, pool: int, unit: str) -> float:
    """Factor from pool-crop pixels to ``unit`` ("area_px", "area_source_px" or "area_um2")."""
    from blasto.review.areas import area_table

    table = area_table(experiment, pool, np.ones(1))
    if unit not in ("area_px", "area_source_px", "area_um2"):
        raise BlastoError(f"Unknown area unit {unit!r}.")
    value = float(table[unit].iloc[0])
    if not np.isfinite(value):
        raise BlastoError(f"{experiment.path / 'manifest.json'}: pool {pool} has no {unit} (missing box or pixel size).")
    return value


def pool_events(experiment, pool: int, masks, *, settings: EventSettings = EventSettings(),
                unit: str | None = None) -> PoolEvents:
    """Events of ``pool`` of ``experiment`` from its measured masks (T, H, W), per cell.

    ``unit``: the area column the expansion rate is in; default the most physical one the
    manifest allows (µm², else source px, else crop px; :func:`blasto.review.areas.best_unit`).
    """
    from blasto.review.areas import area_table, best_unit

    unit = unit or best_unit(area_table(experiment, pool, np.ones(1)))
    events = events_from_masks(masks, frame_minutes=experiment_frame_minutes(experiment), pool=pool,
                               settings=settings, scale=unit_scale(experiment, pool, unit))
    return dataclasses.replace(events, unit=unit)


# -- tables -----------------------------------------------------------------------------------
EVENT_COLUMNS = ["pool", "cell", "collapse", "start_frame", "start_h", "bottom_frame", "depth_percent",
                 "recovered", "recovery_frame", "recovery_h", "hours_to_recover"]
SUMMARY_COLUMNS = ["pool", "collapses", "unit", "expansion_rate_per_h", "max_expansion_frame", "max_expansion_h",
                   "first_collapse_frame", "first_collapse_h", "not_recovered"]


def _as_list(pool_events) -> list[PoolEvents]:
    return [pool_events] if isinstance(pool_events, PoolEvents) else list(pool_events)


def events_table(pool_events) -> pd.DataFrame:
    """One row per collapse of one or several :class:`PoolEvents` (the events CSV).

    ``recovery_frame``, ``recovery_h`` and ``hours_to_recover`` are empty when not recovered.

    >>> events_table(detect_events([100, 100, 40, 40], frame_minutes=10, pool=2))[["pool", "start_frame", "recovered"]].values.tolist()
    [[2, 1, False]]
    """
    rows = []
    for events in _as_list(pool_events):
        for number, c in enumerate(events.collapses, start=1):
            rows.append({
                "pool": c.pool, "cell": c.cell, "collapse": number, "start_frame": c.start_frame,
                "start_h": round(c.start_hours, 4), "bottom_frame": c.bottom_frame,
                "depth_percent": round(c.depth_percent, 2), "recovered": c.recovered,
                "recovery_frame": c.recovery_frame,
                "recovery_h": None if c.recovery_hours is None else round(c.recovery_hours, 4),
                "hours_to_recover": None if c.hours_to_recover is None else round(c.hours_to_recover, 4),
            })
    table = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    for column in ("recovery_frame",):
        table[column] = table[column].astype("Int64")
    return table


def summary_table(pool_events) -> pd.DataFrame:
    """One row per pool: number of collapses, expansion rate, maximum expansion, first collapse.

    >>> summary_table(detect_events([100, 100, 40, 40], frame_minutes=10, pool=2))["collapses"].tolist()
    [1]
    """
    rows = []
    for events in _as_list(pool_events):
        first = events.collapses[0] if events.collapses else None
        rows.append({
            "pool": events.pool, "collapses": events.n_collapses, "unit": events.unit,
            "expansion_rate_per_h": None if events.expansion_rate is None else round(events.expansion_rate, 4),
            "max_expansion_frame": events.max_expansion_frame,
            "max_expansion_h": None if events.max_expansion_hours is None else round(events.max_expansion_hours, 4),
            "first_collapse_frame": None if first is None else first.start_frame,
            "first_collapse_h": None if first is None else round(first.start_hours, 4),
            "not_recovered": sum(not c.recovered for c in events.collapses),
        })
    table = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    for column in ("max_expansion_frame", "first_collapse_frame"):
        table[column] = table[column].astype("Int64")
    return table


def frame_columns(pool_events: PoolEvents, n_frames: int) -> pd.DataFrame:
    """Per-frame event columns for the areas CSV: which collapse a frame is in, and its phase.

    ``collapse`` is the collapse's number (from 1, 0 outside any), ``event`` is "start",
    "bottom", "recovery" at those frames, else empty.

    >>> frame_columns(detect_events([100, 100, 40, 95], frame_minutes=10), 4)["event"].tolist()
    ['', 'start', 'bottom', 'recovery']
    """
    number = np.zeros(n_frames, np.int64)
    event = np.full(n_frames, "", dtype=object)
    for index, c in enumerate(pool_events.collapses, start=1):
        end = c.recovery_frame if c.recovery_frame is not None else n_frames - 1
        number[c.start_frame:end + 1] = np.where(number[c.start_frame:end + 1] == 0, index,
                                                 number[c.start_frame:end + 1])
        for frame, name in ((c.start_frame, "start"), (c.bottom_frame, "bottom"), (c.recovery_frame, "recovery")):
            if frame is not None and 0 <= frame < n_frames:
                event[frame] = name if not event[frame] else f"{event[frame]}+{name}"
    return pd.DataFrame({"frame": np.arange(n_frames), "collapse": number, "event": event})
