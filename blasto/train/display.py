"""What the Train page (and the command line) show of runs: the loss chart, the status line,
the runs table, and durations. Plain values in, figures and text out, so the page only shows
them and all of it is testable without Streamlit.

plotly and pandas are imported inside the functions that need them.
"""

from __future__ import annotations

import numpy as np

from blasto.masks import THRESHOLD

SMOOTHING = 0.9  # exponential moving average of the per-batch loss, as TensorBoard does


def smoothed(values, *, weight=SMOOTHING) -> np.ndarray:
    """Exponential moving average with bias correction (the first points are not pulled to 0).

    >>> smoothed([1.0, 1.0, 1.0]).tolist()
    [1.0, 1.0, 1.0]
    >>> smoothed([0.0, 1.0], weight=0.5).round(3).tolist()
    [0.0, 0.667]
    """
    out, average = np.empty(len(values)), 0.0
    for i, value in enumerate(values):
        average = weight * average + (1 - weight) * value
        out[i] = average / (1 - weight ** (i + 1))
    return out


def clock(seconds, *, unknown="?") -> str:
    """'1:05' for 65 s, '1:01:05' past an hour, ``unknown`` when not known.

    >>> clock(65), clock(3665), clock(None)
    ('1:05', '1:01:05', '?')
    """
    if seconds is None:
        return unknown
    hours, rest = divmod(int(round(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def loss_chart(runs, *, title="Loss"):
    """Training loss (per batch, and smoothed) and per-epoch loss / val_loss of one or more
    runs (:class:`blasto.train.runs.Run`), on an epoch axis."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for run in runs:
        name = run.name if len(runs) > 1 else ""
        steps = run.status.steps_per_epoch or 1
        batches = run.batches()
        if batches:
            x = [(b.epoch - 1) + b.step / steps for b in batches]
            losses = [b.loss for b in batches]
            figure.add_scatter(x=x, y=losses, mode="lines", name=f"{name} batch loss".strip(),
                               line=dict(width=1), opacity=0.25, showlegend=len(runs) == 1)
            figure.add_scatter(x=x, y=smoothed(losses), mode="lines",
                               name=f"{name} loss (smoothed)".strip())
        if run.history:
            epochs = [record.epoch for record in run.history]
            figure.add_scatter(x=epochs, y=[record.loss for record in run.history], mode="markers",
                               name=f"{name} loss (epoch)".strip(), marker=dict(size=7))
            figure.add_scatter(x=epochs, y=[record.val_loss for record in run.history],
                               mode="lines+markers", name=f"{name} val_loss".strip(),
                               line=dict(width=3))
    figure.update_layout(title=title, xaxis_title="epoch", yaxis_title="loss", height=420,
                         margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h"))
    return figure


def status_line(run) -> str:
    """One line (Markdown) on where a run is: state, epoch, step, elapsed, ETA while it
    trains, best val_loss, precision, the devices when several."""
    s = run.status
    parts = [f"**{run.name}**", s.label, f"epoch {s.epoch}/{s.epochs or '?'}",
             f"step {s.step}/{s.steps_per_epoch or '?'}", f"elapsed {clock(s.elapsed_s)}"]
    if run.active:
        parts.append(f"ETA {clock(s.eta_s)}")
    if s.best_val_loss is not None:
        parts.append(f"best val_loss {s.best_val_loss:.4f}")
    if s.precision:
        parts.append(s.precision)
    if s.devices and s.devices.startswith("MirroredStrategy"):
        parts.append(s.devices.split(" (")[0])  # "MirroredStrategy over 2 devices"
    return " · ".join(parts)


#: The runs table's score columns (the threshold in their names is the lab's).
DICE_COLUMN, IOU_COLUMN = f"val Dice @{THRESHOLD}", f"val IoU @{THRESHOLD}"


def runs_table(summaries):
    """The runs table (a pandas DataFrame) from :class:`blasto.train.runs.RunSummary` rows."""
    import pandas as pd

    return pd.DataFrame([{
        "run": r.run_id, "experiment": r.experiment, "status": r.label,
        "epochs": f"{r.epochs_done}/{r.epochs}", "steps/epoch": r.steps_per_epoch,
        "batch": r.batch_size, "optimizer": r.optimizer, "learning rate": r.learning_rate,
        "filters": r.start_filters, "dropout": r.dropout, "precision": r.precision,
        "preset": r.preset, "best val_loss": r.best_val_loss, DICE_COLUMN: r.val_dice,
        IOU_COLUMN: r.val_iou,
    } for r in summaries])
