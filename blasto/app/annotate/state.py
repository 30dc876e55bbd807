"""What the Annotate page keeps between reruns: its widget keys, where the Draw step is, the
masks edited in this session, and the messages it carries from one run to the next."""

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
    SURFACE = "anno_surface"
    MODEL = "anno_model"


@dataclass
class Nav:
    """Where the Draw step is: the experiment, pool and frame shown. ``pool`` is a pool number,
    or a side ("train", "validation") for the pairs imported from the lab's folders (``frame``
    is then the pair's number)."""

    experiment: str
    pool: int | str
    frame: int | None = None


@dataclass
class PageState:
    """Everything this page keeps that is not a widget value."""

    nav: Nav | None = None
    #: Every mask edited in this browser session, by target (experiment|slot): moving to
    #: another frame and back keeps its undo history.
    edits: dict[str, FrameEdit] = field(default_factory=dict)
    #: The target the drawing surface shows now.
    visit: str | None = None
    #: The last surface event taken, per surface instance (nonce): events come again until
    #: acknowledged, so each is taken once.
    taken: dict[str, int] = field(default_factory=dict)
    last_nonce: str | None = None
    #: Brightness and contrast of the frame, per experiment.
    views: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: The target whose save found another tab's mask on disk: the page asks what to keep.
    conflict: str | None = None
    #: Frame moves asked from the surface's keys (-1 previous, +1 next), done by navigation.
    move: int = 0
    #: A surface event changed what the whole page shows (a save): rerun it, not the fragment.
    refresh_page: bool = False
    #: Proposal actions asked from the surface's keys ("propose", "copy", "interpolate").
    assist: str | None = None
    #: The frames of a pool in the order to check them (most doubtful first), and where we are.
    check: tuple[str, int, tuple] | None = None
    #: Gray frames as PNG data URLs, by target (the surface gets one per frame).
    images: dict[str, str] = field(default_factory=dict)
    #: (step it is shown on, text): a step's result, shown while the user is on the next step.
    notice: tuple[str, str] | None = None
    error: str | None = None
    #: Short messages for the next run (saved on leaving, conflicts left for later).
    toasts: list[str] = field(default_factory=list)
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
