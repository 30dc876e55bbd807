"""What the Annotate page keeps between reruns: its widget keys, where the Draw step is, the
frame being edited, and the messages it carries from one run to the next."""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from blasto.annotate.edit import FrameEdit
from blasto.app.common import choose_experiment, page_state

STEPS = ("Crop", "Clean", "Draw", "Split & lab data")
ss = st.session_state


# -- what the page keeps between reruns -----------------------------------------------------------
class Keys:
    """Widget keys of this page that its code reads or sets (the others are private to one
    widget)."""

    STEP = "anno_step"
    CROP_MARGINS = ("crop_top", "crop_left", "crop_bottom", "crop_right")
    CROP_GRID_FOR = "crop_grid_for"
    PROGRESS = "anno_progress"
    OTHER_FRAME = "anno_other"


@dataclass
class Nav:
    """Where the Draw step is: the experiment, pool and frame shown."""

    experiment: str
    pool: int
    frame: int | None = None


@dataclass
class Visit:
    """The frame being edited: its edit, the experiment folder it belongs to, and the canvas
    made for it (a new canvas per visit, and per undo/redo/clear: see :func:`canvas_key`)."""

    edit: FrameEdit
    experiment_path: str
    canvas_uid: int


@dataclass
class PageState:
    """Everything this page keeps that is not a widget value."""

    nav: Nav | None = None
    visit: Visit | None = None
    canvas_count: int = 0
    #: (step it is shown on, text): a step's result, shown while the user is on the next step.
    notice: tuple[str, str] | None = None
    error: str | None = None
    #: Widget values to set at the start of the next run, before the widgets are drawn.
    pending: dict = field(default_factory=dict)


def state() -> PageState:
    return page_state("annotate_page", PageState)


def go_to(*, experiment: str | None = None, step: str | None = None) -> None:
    """Open an experiment and/or a step on the next run (from a callback or before a rerun)."""
    if experiment is not None:
        state().pending["experiment"] = experiment
    if step is not None:
        state().pending[Keys.STEP] = step


def apply_pending() -> None:
    for key, value in state().pending.items():
        if key == "experiment":
            choose_experiment(value)
        else:
            ss[key] = value
    state().pending.clear()
