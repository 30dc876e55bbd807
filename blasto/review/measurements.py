"""Manual area measurements: read the lab's CSV/XLSX, keep them with the experiment.

A measurements file is a table with a column of areas and, optionally, a column of frame
numbers (from 0) or of times; frames may be sparse (e.g. every 15th). Columns are recognised
by their header (``area``, ``frame``, ``time_min`` ...); a file without headers may hold one
column (areas of consecutive frames from 0) or two (frame, area). Times become frames with the
experiment's frame interval; their unit comes from the header (``h``/``hours``, ``s``/``sec``,
else minutes). A ``pool`` column selects the rows of one pool. Anything that cannot be read
raises :class:`MeasurementError` naming the file and what is wrong.

>>> m = parse_measurements(b"frame,area\\n0,100\\n15,150\\n30,125\\n", n_frames=144, name="m.csv")
>>> m.frames.tolist(), m.areas.tolist()
([0, 15, 30], [100.0, 150.0, 125.0])

How they compare with the model's curve is :mod:`blasto.review.agreement`.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from blasto.store import atomic
from blasto.errors import MeasurementError

# Header patterns, matched against the lower-cased, stripped header.
_POOL = re.compile(r"^(pool|well)(?![a-z])")
_FRAME = re.compile(r"^(frames?|slices?|image|index)(?![a-z])")
_TIME = re.compile(r"^(time|t)(?![a-z])|^(minutes?|mins?|hours?|hrs?|h|seconds?|secs?|s)$")
_AREA = re.compile(r"area|size|px|pixel|µm|um2|(?<![a-z])um(?![a-z])")

# Time units from the header: seconds per unit.
_TIME_UNITS = [
    (re.compile(r"(^|[^a-z])(h|hr|hrs|hour|hours)([^a-z]|$)"), 3600.0),
    (re.compile(r"(^|[^a-z])(s|sec|secs|second|seconds)([^a-z]|$)"), 1.0),
    (re.compile(r"(^|[^a-z])(m|min|mins|minute|minutes)([^a-z]|$)"), 60.0),
]


@dataclass
class Measurements:
    """Manual areas of one pool: ``frames`` (sorted, from 0) and ``areas`` (same length)."""

    frames: np.ndarray
    areas: np.ndarray
    source: str = "measurements"
    column: str = "area"
    notes: list[str] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"frame": self.frames, "area": self.areas})

    def __len__(self) -> int:
        return len(self.frames)


# -- reading --------------------------------------------------------------------------------
def _source_name(source, name) -> str:
    if name:
        return str(name)
    if isinstance(source, (str, Path)):
        return str(source)
    return getattr(source, "name", None) or "measurements file"


def _read_bytes(source) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source)
    if isinstance(source, (str, Path)):
        try:
            return Path(source).read_bytes()
        except OSError as exc:
            raise MeasurementError(f"{source}: cannot read the file ({exc.strerror or exc}).") from None
    if hasattr(source, "getvalue"):
        return bytes(source.getvalue())
    return bytes(source.read())


def read_cells(source, *, name=None) -> pd.DataFrame:
    """The file's cells as strings (no header interpretation), empty rows/columns dropped."""
    label = _source_name(source, name)
    data = _read_bytes(source)
    if not data.strip():
        raise MeasurementError(f"{label}: the file is empty.")
    lower = label.lower()
    if data[:4] == b"PK\x03\x04" or lower.endswith((".xlsx", ".xlsm")):
        try:
            cells = pd.read_excel(io.BytesIO(data), header=None, dtype=object, engine="openpyxl")
        except Exception as exc:  # openpyxl raises many kinds for a broken workbook
            raise MeasurementError(f"{label}: not a readable XLSX workbook ({exc}).") from None
        cells = cells.map(lambda v: "" if pd.isna(v) else str(v))
    elif lower.endswith(".xls") or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise MeasurementError(f"{label}: old Excel .xls files are not supported; save it as .xlsx or .csv.")
    else:
        if b"\x00" in data[:4096]:
            raise MeasurementError(f"{label}: not a CSV or XLSX file (it holds binary data).")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
        cells = _read_csv_text(text, label)
    cells = cells.map(lambda v: str(v).strip())
    cells = cells.loc[(cells != "").any(axis=1), (cells != "").any(axis=0)]
    if cells.empty:
        raise MeasurementError(f"{label}: the file holds no values.")
    return cells.reset_index(drop=True)


def _read_csv_text(text: str, label: str) -> pd.DataFrame:
    first = next((line for line in text.splitlines() if line.strip()), "")
    # Semicolons or tabs when they split the first line, else commas.
    sep = ";" if first.count(";") > first.count(",") else "\t" if first.count("\t") > first.count(",") else ","
    try:
        return pd.read_csv(io.StringIO(text), header=None, dtype=str, sep=sep,
                           keep_default_na=False, skip_blank_lines=True)
    except (pd.errors.ParserError, ValueError) as exc:
        raise MeasurementError(f"{label}: not a readable CSV table ({str(exc).strip()}).") from None


def _number(text: str) -> float | None:
    """A cell as a float, or None if it is not a number (empty cells are NaN)."""
    if text == "" or text.lower() in ("nan", "na", "n/a"):
        return np.nan
    try:
        return float(text)
    except ValueError:
        return None


def _is_header(row) -> bool:
    return any(_number(v) is None for v in row)


def parse_measurements(source, *, n_frames: int, frame_interval_s: float | None = None,
                       pool: int | None = None, name=None) -> Measurements:
    """Read a measurements CSV/XLSX (path, bytes or uploaded file) into :class:`Measurements`.

    ``n_frames`` is the pool movie's length (frames beyond it are refused);
    ``frame_interval_s`` turns a time column into frames; ``pool`` picks rows of a ``pool``
    column.

    >>> parse_measurements(b"area\\n1\\nabc\\n", n_frames=10, name="bad.csv")
    Traceback (most recent call last):
    ...
    blasto.errors.MeasurementError: bad.csv: column 'area', line 3 holds 'abc', which is not a number.
    """
    label = _source_name(source, name)
    cells = read_cells(source, name=name)
    first = cells.iloc[0].tolist()
    has_header = _is_header(first)
    if has_header:
        headers = [h if h else f"column {i + 1}" for i, h in enumerate(first)]
        body = cells.iloc[1:]
        first_line = 2
    else:
        headers = [f"column {i + 1}" for i in range(cells.shape[1])]
        body = cells
        first_line = 1
    if body.empty:
        raise MeasurementError(f"{label}: there are headers ({', '.join(headers)}) but no rows of values.")
    body = body.reset_index(drop=True)
    body.columns = range(body.shape[1])
    keys = [h.lower().strip() for h in headers]
    lines = np.arange(len(body)) + first_line  # the file's line (or sheet row) of each row

    numbers, text_cells = {}, {}
    for col in range(body.shape[1]):
        values = [_number(v) for v in body[col]]
        bad = [(lines[i], body[col][i]) for i, v in enumerate(values) if v is None]
        numbers[col] = np.array([np.nan if v is None else v for v in values], float)
        text_cells[col] = bad

    def find(pattern):
        return next((c for c, k in enumerate(keys) if pattern.search(k)), None)

    pool_col = find(_POOL)
    frame_col = find(_FRAME)
    time_col = find(_TIME) if frame_col is None else None
    area_col = next((c for c, k in enumerate(keys)
                     if _AREA.search(k) and c not in (pool_col, frame_col, time_col)), None)

    def require_numbers(col):
        if text_cells[col]:
            line, value = text_cells[col][0]
            raise MeasurementError(
                f"{label}: column {headers[col]!r}, line {line} holds {value!r}, which is not a number."
            )

    if area_col is None:
        others = [c for c in range(body.shape[1]) if c not in (pool_col, frame_col, time_col)]
        # Columns that are mostly numbers are data; a few words in them are errors.
        numeric = [c for c in others if np.isfinite(numbers[c]).sum() > len(text_cells[c])]
        if not numeric:
            raise MeasurementError(
                f"{label}: no column of numbers found (columns: {', '.join(headers)}); "
                "the file needs a column of areas."
            )
        if len(numeric) == 1:
            area_col = numeric[0]
        elif len(numeric) == 2 and frame_col is None and time_col is None:
            frame_col, area_col = numeric
        else:
            raise MeasurementError(
                f"{label}: cannot tell which column holds the areas "
                f"(columns: {', '.join(headers)}); name it 'area'."
            )
    require_numbers(area_col)
    areas = numbers[area_col]
    keep = np.ones(len(body), bool)

    if pool_col is not None:
        require_numbers(pool_col)
        pools = numbers[pool_col]
        found = sorted({int(p) for p in pools[np.isfinite(pools)]})
        if pool is not None:
            keep &= pools == int(pool)
            if not keep.any():
                raise MeasurementError(f"{label}: no rows for pool {pool} (pools in the file: {found}).")
        elif len(found) > 1:
            raise MeasurementError(f"{label}: holds pools {found}; choose one pool.")

    keep &= np.isfinite(areas)  # empty area cells: frames not measured
    if not keep.any():
        raise MeasurementError(f"{label}: column {headers[area_col]!r} holds no areas.")

    if frame_col is not None:
        require_numbers(frame_col)
        raw = numbers[frame_col]
        missing = keep & ~np.isfinite(raw)
        if missing.any():
            raise MeasurementError(f"{label}: line {lines[missing][0]} has an area but no frame number.")
        if np.any(raw[keep] != np.round(raw[keep])):
            bad = raw[keep][raw[keep] != np.round(raw[keep])][0]
            raise MeasurementError(f"{label}: frame number {bad:g} is not a whole number.")
        frames = np.where(keep, raw, -1).astype(np.int64)
    elif time_col is not None:
        require_numbers(time_col)
        frames = _frames_from_times(numbers[time_col], keep, headers[time_col], frame_interval_s, label, lines)
    else:
        if keep.sum() > n_frames:
            raise MeasurementError(
                f"{label}: {int(keep.sum())} rows of areas but the movie has only {n_frames} frames."
            )
        frames = np.full(len(body), -1, np.int64)
        frames[keep] = np.arange(int(keep.sum()))

    frames, areas, lines = frames[keep], areas[keep], lines[keep]
    if len(frames) > n_frames:
        raise MeasurementError(f"{label}: {len(frames)} rows of areas but the movie has only {n_frames} frames.")
    if (frames < 0).any():
        raise MeasurementError(f"{label}: line {lines[frames < 0][0]} has a negative frame number.")
    if (frames >= n_frames).any():
        raise MeasurementError(
            f"{label}: line {lines[frames >= n_frames][0]} is for frame {frames[frames >= n_frames][0]}, "
            f"but the movie's frames are 0 to {n_frames - 1} (frames are numbered from 0)."
        )
    if (areas < 0).any():
        raise MeasurementError(f"{label}: line {lines[areas < 0][0]} has a negative area.")
    unique, counts = np.unique(frames, return_counts=True)
    if (counts > 1).any():
        raise MeasurementError(f"{label}: frame {unique[counts > 1][0]} is measured more than once.")
    order = np.argsort(frames, kind="stable")
    return Measurements(frames=frames[order], areas=areas[order], source=label, column=headers[area_col])


def _frames_from_times(times, keep, header, interval_s, label, lines) -> np.ndarray:
    if not interval_s:
        raise MeasurementError(
            f"{label}: the measurements are by time ({header!r}) but the experiment has no frame "
            "interval; add a 'frame' column instead."
        )
    key = header.lower()
    unit = next((seconds for pattern, seconds in _TIME_UNITS if pattern.search(key)), 60.0)
    missing = keep & ~np.isfinite(times)
    if missing.any():
        raise MeasurementError(f"{label}: line {lines[missing][0]} has an area but no time.")
    exact = np.where(keep, times, 0) * unit / float(interval_s)
    frames = np.round(exact).astype(np.int64)
    off = keep & (np.abs(exact - frames) > 0.25)
    if off.any():
        raise MeasurementError(
            f"{label}: line {lines[off][0]}: time {times[off][0]:g} ({header}) is not on a frame "
            f"(frames are {interval_s:g} s apart)."
        )
    return np.where(keep, frames, -1)


# -- saved with the experiment --------------------------------------------------------------
def load_saved_measurements(experiment, pool: int) -> Measurements | None:
    """The measurements saved with the experiment for ``pool``, or None if there are none."""
    path = experiment.measurements_path(pool)
    if not path.exists():
        return None
    return parse_measurements(path, n_frames=experiment.n_frames(pool), pool=pool,
                              frame_interval_s=experiment.manifest.frame_interval_s)


def save_measurements(experiment, pool: int, measurements: Measurements) -> Path:
    """Save measurements with the experiment (frame, area CSV), atomically."""
    path = experiment.measurements_path(pool)
    atomic.write_text(path, measurements.table().to_csv(index=False))
    return path


# -- which measurements a pool shows ------------------------------------------------------------
def pools_named(source, *, name=None) -> list[int]:
    """The pools a measurements file names in its ``pool`` (or ``well``) column; [] without one.

    >>> pools_named(b"pool,frame,area\\n2,0,5\\n2,1,6\\n7,0,4\\n", name="m.csv")
    [2, 7]
    >>> pools_named(b"frame,area\\n0,5\\n", name="m.csv")
    []
    """
    cells = read_cells(source, name=name)
    first = cells.iloc[0].tolist()
    if not _is_header(first):
        return []
    column = next((c for c, h in enumerate(first) if _POOL.search(h.lower().strip())), None)
    if column is None:
        return []
    values = [_number(v) for v in cells.iloc[1:, column]]
    return sorted({int(v) for v in values if v is not None and np.isfinite(v)})


def upload_pools(source, *, uploaded_for: int, name=None) -> list[int]:
    """The pools an uploaded file applies to: those it names, else the pool it was uploaded on.

    >>> upload_pools(b"frame,area\\n0,5\\n", uploaded_for=3, name="m.csv")
    [3]
    """
    return pools_named(source, name=name) or [int(uploaded_for)]


def measurements_for_pool(experiment, pool: int, *, upload=None, upload_name=None,
                          uploaded_for: int | None = None) -> tuple[Measurements | None, str]:
    """The manual measurements the Review page shows for ``pool`` and where they come from.

    An ``upload`` (bytes or file) that applies to the pool (:func:`upload_pools`) wins, then
    the measurements saved with the experiment, else none: ``(measurements, "upload" | "saved"
    | "none")``. No click is needed when switching pools: every pool with saved measurements
    shows them.
    """
    n_frames = experiment.n_frames(pool)
    interval = experiment.manifest.frame_interval_s
    if upload is not None:
        data = _read_bytes(upload)
        label = _source_name(upload, upload_name)
        if int(pool) in upload_pools(data, uploaded_for=pool if uploaded_for is None else uploaded_for,
                                     name=label):
            named = bool(pools_named(data, name=label))
            return parse_measurements(data, n_frames=n_frames, frame_interval_s=interval,
                                      pool=pool if named else None, name=label), "upload"
    saved = load_saved_measurements(experiment, pool)
    return (saved, "saved") if saved is not None else (None, "none")


def save_upload(experiment, upload, *, uploaded_for: int, name=None) -> list[Path]:
    """Save an uploaded file's measurements with the experiment for every pool it applies to."""
    data = _read_bytes(upload)
    label = _source_name(upload, name)
    named = bool(pools_named(data, name=label))
    parsed = {}
    for pool in upload_pools(data, uploaded_for=uploaded_for, name=label):
        if pool not in experiment.pool_numbers:
            raise MeasurementError(f"{label}: names pool {pool}, which the experiment does not have "
                                   f"(pools {', '.join(map(str, experiment.pool_numbers))}).")
        parsed[pool] = parse_measurements(data, n_frames=experiment.n_frames(pool), pool=pool if named else None,
                                          frame_interval_s=experiment.manifest.frame_interval_s, name=label)
    # All read before any is written: a bad pool leaves the saved ones as they were.
    return [save_measurements(experiment, pool, m) for pool, m in parsed.items()]
