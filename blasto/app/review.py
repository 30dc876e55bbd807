"""The Review page's movie and chart: the typed settings it passes around, the cached
predictions and areas behind it, the callbacks that move the frame, and the playing viewer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from blasto.model.files import model_file, model_id
from blasto.model.inference import Predictor
from blasto.review import charts, overlay
from blasto.review import predictions as predict
from blasto.review.areas import UNIT_LABELS, PostProcessing
from blasto.store.experiment import Experiment

ss = st.session_state


class Keys:
    """Session keys of this page that its code reads or sets."""

    FRAME = "review_frame"
    POOL = "review_pool"
    PLAYING = "review_playing"
    TIMER_ON = "review_timer_on"  # whether the viewer's fragment timer runs (follows PLAYING)
    CHART = "review_chart"
    GRID = "review_grid"
    JUMP = "review_jump"


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


# -- callbacks: they run before the next script run, so they may set widget values ----------
def set_frame(frame: int) -> None:
    ss[Keys.FRAME] = int(frame)
    ss[Keys.PLAYING] = False


def step(delta: int, n_frames: int) -> None:
    set_frame((ss.get(Keys.FRAME, 0) + delta) % n_frames)


def chart_clicked() -> None:
    frame = charts.selected_value(ss.get(Keys.CHART))
    if frame is not None:
        set_frame(frame)


def jump_clicked() -> None:
    frame = ss.get(Keys.JUMP)
    if frame is not None:
        set_frame(frame)
        ss[Keys.JUMP] = None  # a pill is a jump, not a lasting choice


def grid_clicked() -> None:
    pool = charts.selected_value(ss.get(Keys.GRID))
    if pool is not None:
        ss[Keys.POOL] = pool


def viewer(experiment, pool, movie, masks, table, look: Look, manual: Manual, highlight):
    """Movie and chart in one fragment: playing reruns only them, and the marker follows."""
    n_frames = len(movie)
    hand_frames = experiment.annotated_frames(pool)

    @st.fragment(run_every=1.0 / look.fps if ss[Keys.PLAYING] else None)
    def movie_and_chart():
        timer_on = ss.get(Keys.TIMER_ON, False)
        if ss[Keys.PLAYING] and timer_on:
            ss[Keys.FRAME] = (ss[Keys.FRAME] + 1) % n_frames
        frame = ss[Keys.FRAME]
        left, right = st.columns([5, 6], gap="large")
        with left:
            manual_mask = experiment.read_mask(pool, frame) if look.show_manual and frame in hand_frames else None
            image = overlay.overlay_frame(movie[frame], masks[frame], style=look.style, colour=look.colour,
                                          opacity=look.opacity, manual=manual_mask, scale=2)
            st.image(image, output_format="PNG", width="stretch")
            row = table.iloc[frame]
            when = f" · {row['time_h']:.2f} h" if np.isfinite(row["time_h"]) else ""
            hand = " · hand mask in blue" if manual_mask is not None else ""
            st.markdown(f"**Frame {frame}** of {n_frames - 1}{when} · **{row[manual.unit]:,.0f}** "
                        f"{UNIT_LABELS[manual.unit].removeprefix('area (').removesuffix(')')}{hand}",
                        help="Frames are numbered from 0.")
            st.slider("Frame", 0, n_frames - 1, key=Keys.FRAME, label_visibility="collapsed")
            b1, b2, b3 = st.columns(3)
            b1.button("◀ Prev", on_click=step, args=(-1, n_frames), width="stretch")
            b2.button("Next ▶", on_click=step, args=(1, n_frames), width="stretch")
            b3.toggle("▶ Play", key=Keys.PLAYING)
        with right:
            figure = charts.area_chart(table, unit=manual.unit, frame=frame, manual=manual.measurements,
                                       manual_unit=manual.manual_unit, normalised=manual.normalised,
                                       highlight=highlight)
            st.plotly_chart(figure, key=Keys.CHART, on_select=chart_clicked, selection_mode="points",
                            config={"displaylogo": False, "toImageButtonOptions": {
                                "format": "png", "filename": f"{experiment.name}-pool{pool:02d}-areas",
                                "scale": 2}})
            st.caption("Click a point to show its frame.")
        if ss[Keys.PLAYING] != timer_on:
            ss[Keys.TIMER_ON] = ss[Keys.PLAYING]
            st.rerun(scope="app")  # start or stop the fragment's timer

    movie_and_chart()
