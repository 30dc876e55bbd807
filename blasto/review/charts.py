"""The Review page's logic, without Streamlit: per-pool results, exports and plotly charts.

:func:`pool_results` turns a pool's cached probabilities into masks and an area table;
:func:`export_areas` is the areas CSV; :func:`area_chart` is the area-over-time chart with the
model's curve, the manual measurements and a marker at the current frame;
:func:`small_multiples` is every pool's curve at a glance. Every point of every chart carries
its frame number (pool number for small multiples) in ``customdata``, so a click on any
trace tells the page where to go.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from blasto.review.areas import (
    UNIT_LABELS, PostProcessing, area_table, masks_from_probabilities, pixel_areas,
)
from blasto.review.agreement import normalise
from blasto.review.measurements import Measurements
from blasto.review.overlay import DEFAULT_COLOUR

#: Colours shared by the charts and the movie overlay (the model's is the overlay's default).
MODEL_COLOUR = DEFAULT_COLOUR
MANUAL_COLOUR = "#00a3cc"
MARKER_COLOUR = "#444444"


def pool_results(experiment, pool: int, probabilities, *, post: PostProcessing):
    """(masks (T, H, W) bool, area table) of one pool from its probabilities."""
    masks = masks_from_probabilities(np.asarray(probabilities), post=post)
    return masks, area_table(experiment, pool, pixel_areas(masks))


def export_areas(tables, *, model: str, post: PostProcessing, events: dict | None = None) -> pd.DataFrame:
    """The areas CSV: per-pool area tables with the model and the post-processing on each row.

    With ``events`` (blasto.review.events.PoolEvents by pool), the per-frame ``collapse`` and
    ``event`` columns of blasto.review.events.frame_columns (as in the plate report's CSV).

    >>> t = pd.DataFrame({"pool": [1], "frame": [0], "area_px": [5.0]})
    >>> export_areas([t], model="demo", post=PostProcessing()).columns.tolist()
    ['pool', 'frame', 'area_px', 'model', 'threshold', 'fill_holes', 'keep', 'min_size', 'post_processing']
    """
    tables = [t for t in tables if t is not None and len(t)]
    if events:
        tables = [_with_events(t, events.get(int(t["pool"].iloc[0]))) for t in tables]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    table["model"] = model
    table["threshold"] = post.threshold
    table["fill_holes"] = post.fill_holes
    table["keep"] = post.keep
    table["min_size"] = post.min_size
    table["post_processing"] = post.describe()
    return table


def _with_events(table: pd.DataFrame, pool_events) -> pd.DataFrame:
    from blasto.review.events import frame_columns

    if pool_events is None:
        return table
    columns = frame_columns(pool_events, len(table))
    return pd.concat([table.reset_index(drop=True), columns[["collapse", "event"]]], axis=1)


def guess_manual_unit(measurements: Measurements) -> str:
    """The area column of :func:`blasto.review.areas.area_table` that manual areas are most likely in.

    µm² when the header says so, else source pixels (the lab measures on the original movie).

    >>> guess_manual_unit(Measurements(np.array([0]), np.array([1.0]), column="Area (µm²)"))
    'area_um2'
    """
    header = (measurements.column or "").lower()
    if "µm" in header or "um" in header.replace("sum", "").replace("num", ""):
        return "area_um2"
    if "crop" in header:
        return "area_px"
    return "area_source_px"


def time_axis(table: pd.DataFrame) -> tuple[str, str]:
    """(column, label) of the x axis: hours when the frame interval is known, else frames."""
    if "time_h" in table and table["time_h"].notna().all():
        return "time_h", "time (h)"
    return "frame", "frame"


def _x_of(table, frames, column):
    if column == "frame":
        return np.asarray(frames)
    lookup = table.set_index("frame")[column]
    return lookup.reindex(frames).to_numpy()


def area_chart(table: pd.DataFrame, *, unit: str, frame: int | None = None,
               manual: Measurements | None = None, manual_unit: str | None = None,
               normalised: bool = False, highlight=(), height: int = 420):
    """Area over time: the model's curve, manual measurements, a marker at ``frame``.

    ``table`` is a pool's :func:`blasto.review.areas.area_table`; ``unit`` its area column to plot.
    The manual areas are taken to be in ``manual_unit``; in absolute mode they are converted to
    ``unit`` with the pool's own conversion factors (so crop-pixel, source-pixel and µm² curves
    line up). ``highlight`` frames (the most different ones) are ringed.
    """
    import plotly.graph_objects as go

    x_column, x_label = time_axis(table)
    frames = table["frame"].to_numpy()
    model = table[unit].to_numpy(float)
    y_model = normalise(model) if normalised else model
    y_label = "area (normalised)" if normalised else UNIT_LABELS.get(unit, unit)
    figure = go.Figure()
    figure.add_trace(go.Scatter(
        x=table[x_column], y=y_model, mode="lines+markers", name="model",
        line=dict(color=MODEL_COLOUR, width=2), marker=dict(size=5, color=MODEL_COLOUR),
        customdata=frames, hovertemplate="frame %{customdata}<br>%{y:.4g}<extra>model</extra>",
    ))
    if manual is not None and len(manual):
        values = manual.areas.astype(float)
        if normalised:
            values = normalise(values)
        else:
            values = convert_area(table, values, manual.frames, source=manual_unit or unit, target=unit)
        figure.add_trace(go.Scatter(
            x=_x_of(table, manual.frames, x_column), y=values, mode="markers", name="manual",
            marker=dict(size=8, color=MANUAL_COLOUR, symbol="diamond",
                        line=dict(width=1, color="white")),
            customdata=manual.frames, hovertemplate="frame %{customdata}<br>%{y:.4g}<extra>manual</extra>",
        ))
    highlight = [f for f in highlight if 0 <= f < len(frames)]
    if highlight:
        figure.add_trace(go.Scatter(
            x=_x_of(table, highlight, x_column), y=y_model[highlight], mode="markers",
            name="most different", customdata=highlight,
            marker=dict(size=14, color="rgba(0,0,0,0)", line=dict(width=2, color="#f0a000")),
            hovertemplate="frame %{customdata}<extra>most different</extra>",
        ))
    if frame is not None and 0 <= frame < len(frames):
        x_now = _x_of(table, [frame], x_column)[0]
        figure.add_vline(x=x_now, line=dict(color=MARKER_COLOUR, width=1, dash="dot"))
        figure.add_trace(go.Scatter(
            x=[x_now], y=[y_model[frame]], mode="markers", name=f"frame {frame}",
            marker=dict(size=13, color="white", line=dict(width=3, color=MARKER_COLOUR)),
            customdata=[frame], hovertemplate="frame %{customdata} (shown)<extra></extra>",
        ))
    figure.update_layout(
        height=height, margin=dict(l=10, r=10, t=30, b=10), hovermode="closest",
        xaxis_title=x_label, yaxis_title=y_label, clickmode="event+select",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
        uirevision="area-chart",
    )
    return figure


def _finite(values) -> list:
    """Floats for JSON: NaN and infinities become None (a gap in the line)."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, float)]


def player_chart(table: pd.DataFrame, *, unit: str, manual: Measurements | None = None,
                 manual_unit: str | None = None, normalised: bool = False, highlight=(),
                 collapses=()) -> dict:
    """The area chart as plain data for the in-page player (blasto.app.player), which draws it.

    Same curves as :func:`area_chart`: ``x`` per frame (hours when known, else frame numbers),
    the model's ``y``, the ``manual`` points (frame, value), the ``highlight`` frames, and the
    ``collapses`` (blasto.review.events.Collapse, or anything with ``start_frame``,
    ``bottom_frame``, ``recovery_frame`` and ``depth_percent``) to shade.

    >>> t = pd.DataFrame({"frame": [0, 1, 2], "time_h": [0.0, 0.5, 1.0], "area_px": [4.0, 2.0, 4.0]})
    >>> chart = player_chart(t, unit="area_px", normalised=True)
    >>> chart["x"], chart["y"], chart["x_label"]
    ([0.0, 0.5, 1.0], [1.0, 0.0, 1.0], 'time (h)')
    """
    x_column, x_label = time_axis(table)
    model = table[unit].to_numpy(float)
    chart = {
        "x": _finite(table[x_column]), "x_label": x_label,
        "y": _finite(normalise(model) if normalised else model),
        "y_label": "area (normalised)" if normalised else UNIT_LABELS.get(unit, unit),
        "value": _finite(model), "unit": UNIT_LABELS.get(unit, unit).removeprefix("area (").removesuffix(")"),
        "time_h": _finite(table["time_h"]) if "time_h" in table else [None] * len(table),
        "manual": [], "highlight": [int(f) for f in highlight if 0 <= f < len(table)], "collapses": [],
        "colours": {"model": MODEL_COLOUR, "manual": MANUAL_COLOUR, "marker": MARKER_COLOUR},
    }
    if manual is not None and len(manual):
        values = manual.areas.astype(float)
        values = normalise(values) if normalised else convert_area(
            table, values, manual.frames, source=manual_unit or unit, target=unit)
        chart["manual"] = [[int(f), v] for f, v in zip(manual.frames, _finite(values))
                           if 0 <= f < len(table)]
    for c in collapses:
        chart["collapses"].append({
            "start": int(c.start_frame), "bottom": int(c.bottom_frame),
            "recovery": None if c.recovery_frame is None else int(c.recovery_frame),
            "depth": float(c.depth_percent)})
    return chart


def convert_area(table: pd.DataFrame, values, frames, *, source: str, target: str) -> np.ndarray:
    """Convert areas between the unit columns of an area table, using its per-pool factors.

    The factor is the ratio of the two columns on any frame (they all share it); if either
    unit is unavailable (NaN), the values come back unchanged.
    """
    values = np.asarray(values, float)
    if source == target:
        return values
    ratio = (table[target] / table[source]).replace([np.inf, -np.inf], np.nan).dropna()
    if ratio.empty:
        # All-zero areas: derive the factor from the units themselves is impossible; keep values.
        return values
    return values * float(ratio.iloc[0])


def small_multiples(curves: dict, *, unit: str, current: int | None = None, normalised: bool = False,
                    columns: int = 4, height: int = 520, events: dict | None = None):
    """Every pool's area curve in a grid like the plate (pool 1 top left); click one to open it.

    ``curves`` maps pool numbers to area tables (pools without a prediction are left out).
    Each point carries its pool number in ``customdata``. ``events`` (PoolEvents by pool)
    shades each collapse (start to recovery, or to the end) and marks its start with a ▼; the
    title counts them.
    """
    events = events or {}
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    pools = sorted(curves)
    if not pools:
        return go.Figure()
    rows = (max(pools) - 1) // columns + 1
    def title(n):
        count = len(events[n].collapses) if n in events else None
        extra = f" · {count} collapse{'s' if count != 1 else ''}" if count else ""
        return f"pool {n}{extra}" + (" ◀" if n == current else "")

    titles = [title(n) if n in curves else "" for n in range(1, rows * columns + 1)]
    figure = make_subplots(rows=rows, cols=columns, subplot_titles=titles, shared_xaxes=True,
                           vertical_spacing=0.12, horizontal_spacing=0.04)
    for pool in pools:
        table = curves[pool]
        x_column, _ = time_axis(table)
        y = table[unit].to_numpy(float)
        if normalised:
            y = normalise(y)
        colour = MODEL_COLOUR if pool == current else "#7a7a7a"
        figure.add_trace(go.Scatter(
            x=table[x_column], y=y, mode="lines+markers", showlegend=False,
            line=dict(color=colour, width=2 if pool == current else 1.2),
            marker=dict(size=3, color=colour, opacity=0.6),
            customdata=np.full(len(table), pool), name=f"pool {pool}",
            hovertemplate=f"pool {pool}<br>%{{y:.4g}}<extra>click to open</extra>",
        ), row=(pool - 1) // columns + 1, col=(pool - 1) % columns + 1)
        where = dict(row=(pool - 1) // columns + 1, col=(pool - 1) % columns + 1)
        x = table[x_column].to_numpy(float)
        collapses = events[pool].collapses if pool in events else ()
        for c in collapses:
            end = c.recovery_frame if c.recovery_frame is not None else len(x) - 1
            figure.add_vrect(x0=x[c.start_frame], x1=x[min(end, len(x) - 1)], fillcolor="rgba(120,90,200,0.18)",
                             line_width=0, layer="below", **where)
        if len(collapses):
            starts = [c.start_frame for c in collapses]
            figure.add_trace(go.Scatter(
                x=x[starts], y=y[starts], mode="markers", showlegend=False, name=f"pool {pool} collapses",
                marker=dict(symbol="triangle-down", size=8, color="#7a4fd0"),
                customdata=np.full(len(starts), pool),
                hovertemplate=f"pool {pool}: collapse<extra>click to open</extra>",
            ), **where)
    figure.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), clickmode="event+select",
                         uirevision="small-multiples")
    figure.update_yaxes(showticklabels=False)
    figure.update_annotations(font_size=12)
    return figure


def selected_value(event) -> int | None:
    """The ``customdata`` of the first selected point of a ``st.plotly_chart`` event, or None."""
    if not event:
        return None
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return None
    for point in points or []:
        data = point.get("customdata")
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        if data is not None:
            try:
                return int(data)
            except (TypeError, ValueError):
                continue
    return None
