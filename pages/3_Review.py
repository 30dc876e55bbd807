"""Review: the predicted movie overlay beside an interactive manual-vs-model area chart.

Thin page: prediction and its cache live in blasto.review.predictions, areas in
blasto.review.areas, manual measurements in blasto.review.measurements, drawing and export in
blasto.review.overlay, charts in blasto.review.charts. The network only runs for pools that are
not cached yet.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import streamlit as st

from blasto.app.common import open_page, report_errors, run_page
from blasto.app.review import (
    Keys, Look, Manual, cache_stamp, grid_clicked, jump_clicked, pool_masks_and_table, pool_table,
    run_prediction, viewer,
)
from blasto.masks import THRESHOLD
from blasto.model.files import list_models, model_id
from blasto.review import charts, overlay
from blasto.review import predictions as predict
from blasto.review.areas import KEEP_CHOICES, UNIT_LABELS, PostProcessing, best_unit
from blasto.review.agreement import agreement, mask_agreement
from blasto.review.measurements import load_saved_measurements, parse_measurements, save_measurements

KEEP_LABELS = {"all": "all objects", "largest": "largest object", "centre": "objects at the centre"}
UNITS = ["area_source_px", "area_um2", "area_px"]
ss = st.session_state


# -- the sidebar ---------------------------------------------------------------------------------
def measure_settings(sidebar) -> PostProcessing:
    sidebar.subheader("Measure")
    threshold = sidebar.slider("Threshold on P(cell)", 0.05, 0.95, THRESHOLD, 0.01, key="review_threshold",
                               help=f"The lab uses {THRESHOLD}.")
    fill = sidebar.toggle("Fill holes", True, help="The lab measures the hole-filled area.")
    keep = sidebar.radio("Keep", KEEP_CHOICES, format_func=KEEP_LABELS.get, horizontal=True,
                         help="Largest or centre objects drop debris and bubbles; a pool may hold two cells.")
    min_size = sidebar.number_input("Minimum object size (pool px)", 0, 100_000, PostProcessing.min_size, 10,
                                    help="Drops the bubbles that pop out of the cell.")
    return PostProcessing(threshold=threshold, fill_holes=fill, keep=keep, min_size=int(min_size))


def look_settings(sidebar) -> Look:
    sidebar.subheader("Overlay")
    style = sidebar.radio("Mask drawn as", overlay.STYLES, horizontal=True)
    c1, c2 = sidebar.columns([1, 2])
    colour = c1.color_picker("Colour", charts.MODEL_COLOUR)
    opacity = c2.slider("Opacity", 0.0, 1.0, 0.9 if style == "outline" else 0.4, 0.05)
    show_manual = sidebar.toggle("Show hand masks", True, help="Outlined in blue on the annotated frames.")
    fps = sidebar.slider("Playback (frames/s)", 1, 12, 4)
    return Look(style=style, colour=colour, opacity=opacity, show_manual=show_manual, fps=fps)


# -- the main column -------------------------------------------------------------------------
def choose_pool(experiment, pools, where) -> int:
    wanted = st.query_params.get("pool")
    if Keys.POOL not in ss or ss[Keys.POOL] not in pools:
        ss[Keys.POOL] = int(wanted) if wanted and wanted.isdigit() and int(wanted) in pools else pools[0]
    split = experiment.manifest.split
    pool = where.selectbox("Pool", pools, key=Keys.POOL,
                           format_func=lambda n: f"pool {n} ({split.side_of(n) or 'no split'})")
    if st.query_params.get("pool") != str(pool):
        st.query_params["pool"] = str(pool)
    return pool


def predict_section(experiment, model_path, pools, cached, where) -> set:
    """The "Predict pools" expander; returns the cached pools (rescanned if a prediction ran)."""
    with where.expander(f"Predict pools with {model_id(model_path)}", expanded=False):
        chosen = st.multiselect("Pools to predict", pools, default=pools, key="review_predict_pools")
        todo = [p for p in chosen if p not in cached]
        st.caption(f"{len(cached)} of {len(pools)} pools already predicted (kept on disk; changing the "
                   "threshold or post-processing does not run the network again).")
        if st.button(f"Predict {len(todo)} pool{'s' if len(todo) != 1 else ''}", disabled=not todo,
                     type="primary"):
            with report_errors():
                run_prediction(experiment, model_path, todo)
                st.rerun()
            # Only reached when the prediction stopped on an error: the pools done before it are cached.
            return predict.cached_pools(experiment, model_path)
    return cached


def manual_section(experiment, pool, table, n_frames) -> Manual:
    """Which manual measurements to show (saved, uploaded, none) and in which unit."""
    manual, saved = None, None
    with report_errors():
        saved = load_saved_measurements(experiment, pool)
    sources = (["saved with the experiment"] if saved is not None else []) + ["upload CSV/XLSX", "none"]
    source = st.radio("Manual measurements", sources, horizontal=True, key="review_manual_source")
    c1, c2 = st.columns(2)
    normalised = c1.toggle("Normalised (min-max)", True, help="As the lab compares curves; off: absolute units.")
    available = [u for u in UNITS if table[u].notna().any()]
    unit = best_unit(table)
    unit = c2.selectbox("Unit", available, index=available.index(unit), format_func=UNIT_LABELS.get,
                        disabled=normalised, label_visibility="collapsed")
    if source == "saved with the experiment":
        manual = saved
    elif source.startswith("upload"):
        manual = uploaded_measurements(experiment, pool, n_frames)
    manual_unit = unit
    if manual is not None and not normalised:
        guess = charts.guess_manual_unit(manual)
        manual_unit = st.selectbox(f"Manual column {manual.column!r} is in", available,
                                   index=available.index(guess) if guess in available else 0,
                                   format_func=UNIT_LABELS.get)
    return Manual(measurements=manual, normalised=normalised, unit=unit, manual_unit=manual_unit)


def uploaded_measurements(experiment, pool, n_frames):
    upload = st.file_uploader("Areas file: a column of areas, optionally a frame or time column",
                              type=["csv", "xlsx", "txt"], key="review_upload")
    if upload is None:
        return None
    with report_errors():
        manual = parse_measurements(upload, n_frames=n_frames, pool=pool,
                                    frame_interval_s=experiment.manifest.frame_interval_s)
        st.caption(f"{len(manual)} frames measured, column {manual.column!r}.")
        if st.button(f"Save them with the experiment as pool {pool}'s measurements"):
            path = save_measurements(experiment, pool, manual)
            st.success(f"Saved to {path.relative_to(experiment.path)}.")
        return manual
    return None


def agreement_metrics(result) -> None:
    m1, m2, m3 = st.columns(3)
    m1.metric("Pearson r", f"{result.pearson_r:.3f}" if np.isfinite(result.pearson_r) else "–")
    m2.metric("MAE (normalised)", f"{result.mae_normalised:.3f}")
    m3.metric("Frames compared", result.n)
    differences = dict(zip(result.most_different["frame"], result.most_different["difference"]))
    st.pills("Frames where the normalised curves differ most (frame, difference; click to show)",
             list(differences), format_func=lambda f: f"{f} ({differences[f]:+.2f})", key=Keys.JUMP,
             on_change=jump_clicked)


def hand_mask_scores(experiment, pool, masks) -> None:
    if not experiment.annotated_frames(pool):
        st.caption("No hand masks in this pool: Dice and IoU need them.")
        return
    scores = mask_agreement(experiment, pool, masks)
    if len(scores):
        st.markdown(f"**Against the {len(scores)} hand masks:** mean Dice {scores['dice'].mean():.3f}, "
                    f"mean IoU {scores['iou'].mean():.3f}")
        with st.expander("Dice and IoU per annotated frame"):
            st.dataframe(scores.style.format({"dice": "{:.3f}", "iou": "{:.3f}"}), hide_index=True,
                         width="stretch", height=min(400, 38 + 35 * len(scores)))


def all_pools(experiment, pools, cached, pool, table, model_path, post_key, unit, normalised) -> dict:
    """Every predicted pool's curve in a plate-shaped grid; returns the curves by pool."""
    st.subheader("All pools")
    # The shown pool's table is the one computed for the same cache stamp (nothing on this page
    # mutates it: charts and exports read it or copy it); the other pools come from pool_table.
    curves = {p: table if p == pool else
              pool_table(str(experiment.path), p, str(model_path), post_key, cache_stamp(experiment, model_path, p))
              for p in cached}
    missing = [p for p in pools if p not in cached]
    if missing:
        st.caption(f"Not predicted yet: pools {', '.join(map(str, missing))} (use “Predict pools” above).")
    grid_unit = unit if all(curves[p][unit].notna().any() for p in curves) else "area_px"
    st.plotly_chart(charts.small_multiples(curves, unit=grid_unit, current=pool, normalised=normalised),
                    key=Keys.GRID, on_select=grid_clicked, selection_mode="points", config={"displaylogo": False})
    st.caption("Click a curve to open its pool.")
    return curves


def exports(experiment, pool, movie, masks, curves, model_name, post, look: Look) -> None:
    st.subheader("Export")
    e1, e2, e3 = st.columns(3)
    e1.download_button(
        f"Areas CSV ({len(curves)} pools)",
        data=lambda: charts.export_areas([curves[p] for p in sorted(curves)], model=model_name, post=post)
        .to_csv(index=False),
        file_name=f"{experiment.name}-{model_name}-areas.csv", mime="text/csv", on_click="ignore",
        width="stretch")

    def overlay_frames(scale=2):
        hand = experiment.annotated_frames(pool)
        manual_masks = {f: experiment.read_mask(pool, f) for f in hand} if look.show_manual else None
        return overlay.overlay_movie(movie, masks, manual=manual_masks, style=look.style, colour=look.colour,
                                     opacity=look.opacity, scale=scale)

    e2.download_button(f"Overlay MP4 (pool {pool})", data=lambda: overlay.mp4_bytes(overlay_frames(), fps=look.fps),
                       file_name=f"{experiment.name}-pool{pool:02d}-{model_name}.mp4", mime="video/mp4",
                       on_click="ignore", width="stretch")
    e3.download_button(f"Overlay GIF (pool {pool})",
                       data=lambda: overlay.gif_bytes(overlay_frames(scale=1), fps=look.fps),
                       file_name=f"{experiment.name}-pool{pool:02d}-{model_name}.gif", mime="image/gif",
                       on_click="ignore", width="stretch")
    st.caption(f"{post.describe()} · model {model_name}. The chart's camera button saves it as PNG.")
    with st.expander("Play the overlay as a video"):
        if st.button("Make the video", key="review_make_video"):
            st.video(overlay.mp4_bytes(overlay_frames(), fps=look.fps))


# -- the page --------------------------------------------------------------------------------
def main():
    experiment = open_page("Review")
    if experiment is None:
        return
    pools = experiment.pool_numbers
    if not pools:
        st.info(f"Experiment {experiment.name!r} has no pool movies yet: crop a movie on the Annotate page.")
        return
    models = list_models()
    if not models:
        st.info("No trained model yet: train one on the Train page (or restore models/demo).")
        return
    sidebar = st.sidebar
    model_path = sidebar.selectbox("Model", models, format_func=lambda m: m.describe(), key="review_model").path
    model_name = model_id(model_path)
    post = measure_settings(sidebar)
    post_key = dataclasses.astuple(post)  # field order: the caches rebuild it as PostProcessing(*post_key)
    look = look_settings(sidebar)

    top = st.columns([1, 3])
    pool = choose_pool(experiment, pools, top[0])
    # The cache is scanned once per run (each pool's sidecar and movie are read), and again only
    # after a prediction ran: nothing else on this page changes it. "All pools" uses it too.
    cached = predict_section(experiment, model_path, pools, predict.cached_pools(experiment, model_path), top[1])
    # The shown pool is predicted on first view (one pool: seconds with the demo model).
    if pool not in cached:
        with report_errors():
            run_prediction(experiment, model_path, [pool])
        cached = predict.cached_pools(experiment, model_path)  # rescanned even if it failed part way
    masks, table = pool_masks_and_table(str(experiment.path), pool, str(model_path), post_key,
                                        cache_stamp(experiment, model_path, pool))
    if masks is None:
        return
    movie = experiment.read_pool_movie(pool)

    viewer_slot = st.container()  # movie and chart go here; their controls below need reading first
    below_left, below_right = st.columns([5, 6], gap="large")
    with below_right:
        manual = manual_section(experiment, pool, table, len(movie))
    measurements = manual.measurements
    result = agreement(table[manual.unit].to_numpy(), measurements) if measurements is not None and len(measurements) else None
    if Keys.FRAME not in ss or not 0 <= ss[Keys.FRAME] < len(movie):
        ss[Keys.FRAME] = 0
    ss.setdefault(Keys.PLAYING, False)
    with viewer_slot:
        viewer(experiment, pool, movie, masks, table, look, manual,
               highlight=result.most_different["frame"].tolist() if result is not None else [])
    if result is not None:
        with below_right:
            agreement_metrics(result)
    with below_left:
        hand_mask_scores(experiment, pool, masks)
    curves = all_pools(experiment, pools, cached, pool, table, model_path, post_key, manual.unit,
                       manual.normalised)
    exports(experiment, pool, movie, masks, curves, model_name, post, look)


if __name__ == "__main__":
    run_page(main, title="Review")
