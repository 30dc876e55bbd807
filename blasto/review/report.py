"""The plate report for the team meeting, and the events of a whole plate.

:func:`plate_events` measures every predicted pool of an experiment (cached predictions, as on
the Review page) and finds its collapse events; :func:`write_report` writes, into one folder::

    report.html        one page: every pool's area curve with its collapses shaded, the events
                       table, the per-pool summary, agreement with manual measurements
    plate.png          the all-pools curves (a 4x4 grid like the plate)
    agreement_poolNN.png   model vs manual (min-max normalised), for pools with measurements
    events.csv summary.csv areas.csv   the tables behind it

The HTML holds its charts (plotly, its JavaScript inlined once: the page opens offline). The PNGs
are drawn with Pillow (no matplotlib or kaleido here).
"""

from __future__ import annotations

import datetime
import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from blasto.review.areas import UNIT_LABELS, PostProcessing, area_table, best_unit, masks_of_pools, pixel_areas
from blasto.review.events import (
    EventSettings, PoolEvents, events_table, frame_columns, pool_events, summary_table,
)
from blasto.store import atomic

MODEL_COLOUR = "#e4572e"
MANUAL_COLOUR = "#00a3cc"
COLLAPSE_COLOUR = "#f2b134"


@dataclass(frozen=True)
class PoolResult:
    """One measured pool: its area table (one row per frame) and its events."""

    pool: int
    table: pd.DataFrame
    events: PoolEvents


def plate_events(experiment, *, model, pools=None, post: PostProcessing | None = None,
                 settings: EventSettings = EventSettings(), progress=None, overwrite: bool = False,
                 precision: str | None = None) -> list[PoolResult]:
    """Predict (or read the cache of) ``pools`` (default: all), measure them, find their events.

    ``model``: a name or path (:func:`blasto.model.files.resolve_model`). ``progress(done,
    total, pool)`` follows the predicted frames. Areas and rates are in the most physical unit
    the manifest allows (:func:`blasto.review.areas.best_unit`).
    """
    from blasto.model.files import resolve_model
    from blasto.review.predictions import predict_pools

    post = post or PostProcessing()
    probabilities = predict_pools(experiment, model_path=resolve_model(model), pools=pools, progress=progress,
                                  overwrite=overwrite, precision=precision)
    masks = masks_of_pools(probabilities, post=post)
    results = []
    for pool, stack in masks.items():
        table = area_table(experiment, pool, pixel_areas(stack))
        events = pool_events(experiment, pool, stack, settings=settings, unit=best_unit(table))
        results.append(PoolResult(pool, table, events))
    return results


def areas_with_events(results: list[PoolResult]) -> pd.DataFrame:
    """The area tables of ``results`` with each frame's event columns (``collapse``, ``event``)."""
    tables = []
    for result in results:
        columns = frame_columns(result.events, len(result.table))
        tables.append(pd.concat([result.table.reset_index(drop=True),
                                 columns[["collapse", "event"]]], axis=1))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


# -- charts ------------------------------------------------------------------------------------
def _x(table: pd.DataFrame) -> tuple[np.ndarray, str]:
    if "time_h" in table and table["time_h"].notna().all():
        return table["time_h"].to_numpy(), "time (h)"
    return table["frame"].to_numpy(), "frame"


def _hours_to_x(table, frame):
    x, _ = _x(table)
    return float(x[min(max(int(frame), 0), len(x) - 1)])


def plate_figure(results: list[PoolResult], *, columns: int = 4):
    """Plotly figure: every pool's area curve in a plate-shaped grid, collapses shaded."""
    from plotly.subplots import make_subplots

    rows = max(1, -(-len(results) // columns))
    figure = make_subplots(rows=rows, cols=columns, subplot_titles=[f"pool {r.pool}" for r in results],
                           shared_xaxes=True, vertical_spacing=0.08, horizontal_spacing=0.05)
    for index, result in enumerate(results):
        row, col = index // columns + 1, index % columns + 1
        x, x_label = _x(result.table)
        unit = result.events.unit
        figure.add_scatter(x=x, y=result.table[unit], mode="lines", line={"color": MODEL_COLOUR, "width": 1.5},
                           name=f"pool {result.pool}", showlegend=False, row=row, col=col,
                           customdata=result.table["frame"], hovertemplate="frame %{customdata}<br>%{y:.0f}")
        for c in result.events.collapses:
            end = c.recovery_frame if c.recovery_frame is not None else len(x) - 1
            figure.add_vrect(x0=_hours_to_x(result.table, c.start_frame), x1=_hours_to_x(result.table, end),
                             fillcolor=COLLAPSE_COLOUR, opacity=0.3, line_width=0, row=row, col=col)
        figure.update_xaxes(title_text=x_label if row == rows else None, row=row, col=col)
    unit = results[0].events.unit if results else "area_px"
    figure.update_layout(height=230 * rows + 60, margin={"l": 40, "r": 10, "t": 50, "b": 40},
                         title=f"{UNIT_LABELS.get(unit, unit)} over time; shaded: collapse to recovery")
    return figure


def agreement_figure(result: PoolResult, measurements):
    """Plotly figure: the model's and the manual curve of one pool, min-max normalised."""
    import plotly.graph_objects as go

    from blasto.review.agreement import normalise

    x, x_label = _x(result.table)
    figure = go.Figure()
    figure.add_scatter(x=x, y=normalise(result.table["area_px"]), mode="lines", name="model",
                       line={"color": MODEL_COLOUR})
    frames = measurements.frames[measurements.frames < len(x)]
    figure.add_scatter(x=x[frames], y=normalise(measurements.areas[: len(frames)]), mode="markers",
                       name="manual", marker={"color": MANUAL_COLOUR, "size": 5})
    figure.update_layout(height=320, margin={"l": 40, "r": 10, "t": 40, "b": 40},
                         title=f"pool {result.pool}: model vs manual (min-max normalised)",
                         xaxis_title=x_label, yaxis_title="normalised area")
    return figure


def _hex(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


def draw_chart(lines, *, size=(320, 200), title="", spans=(), points=()):
    """A small line chart as a Pillow image: ``lines`` [(x, y, colour)], ``points`` [(x, y,
    colour)] as dots, ``spans`` [(x0, x1)] shaded; axes from the data's ranges."""
    from PIL import Image, ImageDraw

    width, height = size
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image, "RGBA")
    left, right, top, bottom = 8, width - 8, 20, height - 10
    xs = [np.asarray(x, float) for x, _, _ in list(lines) + list(points)]
    ys = [np.asarray(y, float) for _, y, _ in list(lines) + list(points)]
    xs = np.concatenate(xs) if xs else np.zeros(1)
    ys = np.concatenate(ys) if ys else np.zeros(1)
    ys = ys[np.isfinite(ys)] if np.isfinite(ys).any() else np.zeros(1)
    x0, x1 = float(np.nanmin(xs)), float(np.nanmax(xs)) or 1.0
    y0, y1 = 0.0 if ys.min() >= 0 else float(ys.min()), float(ys.max()) * 1.05 or 1.0
    x1 = x1 if x1 > x0 else x0 + 1
    y1 = y1 if y1 > y0 else y0 + 1

    def px(x, y):
        return (left + (np.asarray(x, float) - x0) / (x1 - x0) * (right - left),
                bottom - (np.asarray(y, float) - y0) / (y1 - y0) * (bottom - top))

    for a, b in spans:
        (xa, _), (xb, _) = px(a, y0), px(b, y0)
        draw.rectangle([xa, top, max(xb, xa + 1), bottom], fill=_hex(COLLAPSE_COLOUR) + (90,))
    draw.rectangle([left, top, right, bottom], outline=(170, 170, 170))
    for x, y, colour in lines:
        u, v = px(x, y)
        good = np.isfinite(v)
        if good.sum() >= 2:
            draw.line(list(zip(u[good], v[good])), fill=_hex(colour), width=2)
    for x, y, colour in points:
        for u, v in zip(*px(x, y)):
            if np.isfinite(v):
                draw.ellipse([u - 2, v - 2, u + 2, v + 2], fill=_hex(colour))
    draw.text((left, 4), title, fill=(0, 0, 0))
    return image


def plate_png(results: list[PoolResult], *, columns: int = 4):
    """The all-pools curves as one Pillow image (a plate-shaped grid of small charts)."""
    from PIL import Image

    tile = (300, 180)
    rows = max(1, -(-len(results) // columns))
    image = Image.new("RGB", (tile[0] * columns, tile[1] * rows), "white")
    for index, result in enumerate(results):
        x, _ = _x(result.table)
        spans = [(_hours_to_x(result.table, c.start_frame),
                  _hours_to_x(result.table, c.recovery_frame if c.recovery_frame is not None else len(x) - 1))
                 for c in result.events.collapses]
        chart = draw_chart([(x, result.table[result.events.unit].to_numpy(), MODEL_COLOUR)], size=tile,
                           title=f"pool {result.pool}: {result.events.n_collapses} collapse(s)", spans=spans)
        image.paste(chart, ((index % columns) * tile[0], (index // columns) * tile[1]))
    return image


# -- the report --------------------------------------------------------------------------------
def _table_html(table: pd.DataFrame) -> str:
    return table.to_html(index=False, na_rep="", border=0, classes="data", float_format=lambda v: f"{v:.3g}")


def write_report(experiment, model, out_dir, *, settings: EventSettings = EventSettings(),
                 post: PostProcessing | None = None, pools=None, progress=None,
                 results: list[PoolResult] | None = None) -> Path:
    """Write the plate report into ``out_dir`` (see the module's docstring); returns report.html.

    ``results`` (from :func:`plate_events`) skips measuring again when the caller has them.
    """
    import plotly.io as pio

    from blasto.model.files import model_id, resolve_model
    from blasto.review.agreement import agreement
    from blasto.review.charts import guess_manual_unit
    from blasto.review.measurements import load_saved_measurements

    post = post or PostProcessing()
    out = Path(out_dir)
    name = model_id(resolve_model(model))
    if results is None:
        results = plate_events(experiment, model=model, pools=pools, post=post, settings=settings,
                               progress=progress)
    events = events_table([r.events for r in results])
    summary = summary_table([r.events for r in results])
    atomic.write_text(out / "events.csv", events.to_csv(index=False))
    atomic.write_text(out / "summary.csv", summary.to_csv(index=False))
    areas = areas_with_events(results)
    areas["model"] = name
    areas["post_processing"] = post.describe()
    atomic.write_text(out / "areas.csv", areas.to_csv(index=False))

    plate = plate_figure(results)
    sections = [pio.to_html(plate, full_html=False, include_plotlyjs=True)]
    atomic.write_png(out / "plate.png", np.asarray(plate_png(results)))
    agreement_rows, agreement_html = [], []
    for result in results:
        measurements = load_saved_measurements(experiment, result.pool)
        if measurements is None or not len(measurements):
            continue
        unit = guess_manual_unit(measurements)
        curve = result.table[unit] if result.table[unit].notna().any() else result.table["area_px"]
        score = agreement(curve.to_numpy(), measurements)
        agreement_rows.append({"pool": result.pool, "manual frames": score.n, "Pearson r": round(score.pearson_r, 4),
                               "MAE (normalised)": round(score.mae_normalised, 4)})
        figure = agreement_figure(result, measurements)
        agreement_html.append(pio.to_html(figure, full_html=False, include_plotlyjs=False))
        x, _ = _x(result.table)
        from blasto.review.agreement import normalise

        frames = measurements.frames[measurements.frames < len(x)]
        png = draw_chart([(x, normalise(curve), MODEL_COLOUR)], size=(520, 300),
                         points=[(x[frames], normalise(measurements.areas[: len(frames)]), MANUAL_COLOUR)],
                         title=f"pool {result.pool}: model (line) vs manual (dots), normalised, r {score.pearson_r:.3f}")
        atomic.write_png(out / f"agreement_pool{result.pool:02d}.png", np.asarray(png))

    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    unit = results[0].events.unit if results else "area_px"
    page = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(experiment.name)}: plate report</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1400px}"
        "table.data{border-collapse:collapse;font-size:13px}table.data td,table.data th"
        "{border:1px solid #ccc;padding:3px 8px;text-align:right}</style></head><body>",
        f"<h1>{html.escape(experiment.name)}: plate report</h1>",
        f"<p>Model <b>{html.escape(name)}</b>; {html.escape(post.describe())}; "
        f"{html.escape(settings.describe())}. {len(results)} pools, {len(events)} collapses. Written {stamp}.</p>",
        "<p>A collapse is an area drop of at least the set percentage from the running peak within the set "
        "time (default 37 % in 120 min: half the volume of a sphere; Marcos et al., Hum Reprod 2015). Depth "
        "is the loss at the bottom in % of the pre-collapse peak; recovery is the first frame back to the "
        f"set fraction of that peak. Expansion rate: mean slope of the rising parts, {html.escape(UNIT_LABELS.get(unit, unit))} "
        "per hour, outside collapses.</p>",
        "<h2>All pools</h2>", *sections,
        "<h2>Collapse events</h2>", _table_html(events) if len(events) else "<p>No collapses.</p>",
        "<h2>Per pool</h2>", _table_html(summary),
        "<h2>Agreement with manual measurements</h2>",
        _table_html(pd.DataFrame(agreement_rows)) if agreement_rows else "<p>No manual measurements saved.</p>",
        *agreement_html,
        "<p>Files: events.csv, summary.csv, areas.csv, plate.png"
        + "".join(f", agreement_pool{r['pool']:02d}.png" for r in agreement_rows) + ".</p>",
        "</body></html>",
    ]
    path = out / "report.html"
    atomic.write_text(path, "\n".join(page))
    return path
