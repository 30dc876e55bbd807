"""The Review page's movie and chart: the typed settings it passes around, the cached
predictions, areas and player inputs behind it, the callbacks that move the frame, and the
viewer (blasto.app.player plays the movie in the browser)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import streamlit as st

from blasto.app.player import player
from blasto.model.files import model_file, model_id
from blasto.model.inference import Predictor
from blasto.review import charts, overlay
from blasto.review import predictions as predict
from blasto.review.areas import PostProcessing, masks_from_probabilities
from blasto.store.experiment import Experiment

try:
    from blasto.review import events as event_detection
except ImportError:  # blasto.review.events not there yet: the page shows no events
    event_detection = None

ss = st.session_state


class Keys:
    """Session keys of this page that its code reads or sets."""

    FRAME = "review_frame"    # the frame the player last reported (or was sent to)
    SEEK = "review_seek"      # bumped to make the player jump to FRAME
    PLAYER = "review_player"  # the player component's state
    POOL = "review_pool"
    GRID = "review_grid"
    JUMP = "review_jump"
    EVENT = "review_event"    # the events table's selection


@dataclass(frozen=True)
class Look:
    """How the overlay is drawn and played."""

    style: str
    colour: str
    opacity: float
    show_manual: bool
    fps: int


@dataclass(frozen=True)
class Manual:
    """The manual measurements shown for the pool, and how the chart compares them."""

    measurements: object  # blasto.review.measurements.Measurements or None
    normalised: bool
    unit: str
    manual_unit: str


def model_warning(entry, experiment_name: str) -> str | None:
    """The picker's warning for a model trained on another experiment (None when it fits).

    >>> import datetime, pathlib
    >>> from blasto.model.files import ModelEntry
    >>> other = ModelEntry("run-1", pathlib.Path("run-1"), pathlib.Path("run-1/best.keras"), "plate2", 0.9,
    ...                    datetime.datetime(2026, 12, 1), 1)
    >>> model_warning(other, "plate1")
    "run-1 was trained on experiment 'plate2', not on 'plate1': its masks may not fit these pools."
    >>> model_warning(other, "plate2") is None
    True
    """
    if entry.experiment and entry.experiment != experiment_name:
        return (f"{entry.name} was trained on experiment {entry.experiment!r}, not on {experiment_name!r}: "
                "its masks may not fit these pools.")
    return None


# -- cached computations (keyed by plain values; the cache file's mtime invalidates) ----------
@st.cache_resource(max_entries=2, show_spinner=False)
def load_predictor(model_path: str, stamp: int):
    return Predictor.load(model_path)


def model_stamp(model_path) -> int:
    return model_file(model_path).stat().st_mtime_ns


def _results(experiment_path: str, pool: int, model_path: str, post: tuple):
    """(masks, area table) of a pool from its cached probabilities, or (None, None) if not cached.

    The body of both caches below: the shown pool keeps its masks (a resource), every other
    pool only its table (data).
    """
    experiment = Experiment(experiment_path)
    probabilities = predict.read_cached(experiment, model_path, pool)
    if probabilities is None:
        return None, None
    return charts.pool_results(experiment, pool, probabilities, post=PostProcessing(*post))


@st.cache_resource(max_entries=4, show_spinner=False)
def pool_masks_and_table(experiment_path: str, pool: int, model_path: str, post: tuple, stamp: int):
    return _results(experiment_path, pool, model_path, post)


@st.cache_data(max_entries=256, show_spinner=False)
def pool_table(experiment_path: str, pool: int, model_path: str, post: tuple, stamp: int):
    return _results(experiment_path, pool, model_path, post)[1]


def cache_stamp(experiment, model_path, pool) -> int:
    path = experiment.prediction_path(model_id(model_path), pool)
    return path.stat().st_mtime_ns if path.exists() else 0


def run_prediction(experiment, model_path, pools) -> None:
    """Predict the pools not cached yet, with a progress bar."""
    bar = st.progress(0.0, text="Loading the model…")
    predictor = load_predictor(str(model_path), model_stamp(model_path))

    def progress(done, total, pool):
        bar.progress(done / max(total, 1), text=f"Predicting pool {pool}: frame {done} of {total} in all")

    predict.predict_pools(experiment, model_path=model_path, pools=pools, predictor=predictor, progress=progress)
    bar.empty()


# -- events ---------------------------------------------------------------------------------
@st.cache_data(max_entries=256, show_spinner=False)
def _pool_events(experiment_path: str, pool: int, model_path: str, post: tuple, stamp: int, settings: tuple):
    experiment = Experiment(experiment_path)
    probabilities = predict.read_cached(experiment, model_path, pool)
    if probabilities is None:
        return None
    masks = masks_from_probabilities(probabilities, post=PostProcessing(*post))
    # The same per-cell detection as the CLI and the plate report, in the pool's best unit.
    return event_detection.pool_events(experiment, pool, masks, settings=event_detection.EventSettings(*settings))


def plate_events(experiment, pools, *, model_path, post_key, settings) -> dict:
    """Each predicted pool's events (blasto.review.events.PoolEvents), by pool; {} when event
    detection is not available. Cached per pool, settings and prediction."""
    if event_detection is None or settings is None:
        return {}
    found = {}
    for pool in sorted(pools):
        events = _pool_events(str(experiment.path), pool, str(model_path), post_key,
                              cache_stamp(experiment, model_path, pool), dataclasses.astuple(settings))
        if events is not None:
            found[pool] = events
    return found


def event_clicked(rows: list) -> None:
    """A row of the events table was clicked: show that collapse's start."""
    selection = (ss.get(Keys.EVENT) or {}).get("selection", {}).get("rows", [])
    if selection and selection[0] < len(rows):
        set_frame(rows[selection[0]])


# -- the player's inputs, cached per pool -------------------------------------------------
def movie_stamp(experiment, pool) -> int:
    return experiment.pool_movie_path(pool).stat().st_mtime_ns


@st.cache_resource(max_entries=4, show_spinner=False)
def pool_sprite(experiment_path: str, pool: int, stamp: int, _movie) -> overlay.Sprite:
    return overlay.sprite_sheet(_movie)


@st.cache_data(max_entries=8, show_spinner=False)
def model_paths(experiment_path: str, pool: int, model_path: str, post: tuple, stamp: int) -> list[str]:
    masks, _ = pool_masks_and_table(experiment_path, pool, model_path, post, stamp)
    return [overlay.mask_path(m) for m in masks]


@st.cache_data(max_entries=32, show_spinner=False)
def _hand_paths(experiment_path: str, pool: int, stamps: tuple) -> dict:
    experiment = Experiment(experiment_path)
    return {frame: overlay.mask_path(experiment.read_mask(pool, frame)) for frame, _ in stamps}


def hand_paths(experiment, pool) -> dict:
    """The hand masks' outlines by frame (re-read when a mask file changes)."""
    stamps = []
    for frame in experiment.annotated_frames(pool):
        try:
            stamps.append((frame, experiment.mask_path(pool, frame).stat().st_mtime_ns))
        except FileNotFoundError:  # deleted since the folder was listed
            continue
    return _hand_paths(str(experiment.path), pool, tuple(stamps))


# -- callbacks: they run before the next script run, so they may set widget values ----------
def set_frame(frame: int) -> None:
    """Move the movie to ``frame`` (the player jumps there on the next run)."""
    ss[Keys.FRAME] = int(frame)
    ss[Keys.SEEK] = ss.get(Keys.SEEK, 0) + 1


def player_reported() -> None:
    """The player paused, was scrubbed or clicked: remember its frame (no jump back)."""
    state = ss.get(Keys.PLAYER)
    try:
        frame = state["frame"]
    except (KeyError, TypeError):
        return
    if frame is not None:
        ss[Keys.FRAME] = int(frame)


def jump_clicked() -> None:
    frame = ss.get(Keys.JUMP)
    if frame is not None:
        set_frame(frame)
        ss[Keys.JUMP] = None  # a pill is a jump, not a lasting choice


def grid_clicked() -> None:
    pool = charts.selected_value(ss.get(Keys.GRID))
    if pool is not None:
        ss[Keys.POOL] = pool


def viewer(experiment, pool, movie, masks, table, look: Look, manual: Manual, highlight, *, model_path,
           post_key, collapses=()) -> None:
    """The movie and its area chart, played in the browser by blasto.app.player."""
    stamp = cache_stamp(experiment, model_path, pool)
    sprite = pool_sprite(str(experiment.path), pool, movie_stamp(experiment, pool), movie)
    paths = model_paths(str(experiment.path), pool, str(model_path), post_key, stamp)
    chart = charts.player_chart(table, unit=manual.unit, manual=manual.measurements,
                                manual_unit=manual.manual_unit, normalised=manual.normalised,
                                highlight=highlight, collapses=collapses)
    player(sprite=sprite, model_paths=paths, hand_paths=hand_paths(experiment, pool) if look.show_manual else {},
           chart=chart, style=look.style, colour=look.colour, opacity=look.opacity, fps=look.fps,
           frame=ss.get(Keys.FRAME, 0), seek=(ss.get(Keys.FRAME, 0), ss.get(Keys.SEEK, 0)),
           key=f"{Keys.PLAYER}", on_frame=player_reported)
