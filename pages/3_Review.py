"""Review: the predicted movie overlay playing beside its area chart, the pool's collapse events,
the plate at a glance and the exports for the team meeting.

Thin page: prediction and its cache live in blasto.review.predictions, areas in
blasto.review.areas, manual measurements in blasto.review.measurements, drawing and export in
blasto.review.overlay, charts in blasto.review.charts, events in blasto.review.events, the plate
report in blasto.review.report; the movie plays in the browser (blasto.app.player). The network
only runs for pools that are not cached yet.
"""

from __future__ import annotations

import dataclasses
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from blasto.app.common import open_page, report_errors, run_page
from blasto.app.player import MAX_FPS
from blasto.app.review import (
    Keys, Look, Manual, cache_stamp, event_clicked, event_detection, grid_clicked, jump_clicked, model_warning,
    plate_events, pool_masks_and_table, pool_table, run_prediction, viewer,
)
from blasto.masks import THRESHOLD
from blasto.model.files import default_model, list_models, model_id
from blasto.review import charts, overlay
from blasto.review import predictions as predict
from blasto.review.areas import KEEP_CHOICES, UNIT_LABELS, PostProcessing, best_unit
from blasto.review.agreement import agreement, mask_agreement
from blasto.review.measurements import measurements_for_pool, save_upload, upload_pools

KEEP_LABELS = {"all": "all objects", "largest": "largest object", "centre": "objects at the centre"}
UNITS = ["area_source_px", "area_um2", "area_px"]
ss = st.session_state


# -- the sidebar ---------------------------------------------------------------------------------
def choose_model(experiment, models, sidebar):
    """The model picker: this experiment's best run by default; warns about another experiment's."""
    best = default_model(experiment.name, models=models)
    # One choice per experiment: opening another experiment starts from its own best model.
    entry = sidebar.selectbox("Model", models, index=models.index(best) if best in models else 0,
                              format_func=lambda m: m.describe(), key=f"review_model_{experiment.name}",
                              help="Name (experiment trained on, validation Dice, date, size). The default "
                                   "is the best run trained on this experiment, else the demo model.")
    warning = model_warning(entry, experiment.name)
    if warning:
        sidebar.warning(warning, icon=":material/warning:")
    elif not entry.experiment:
        sidebar.caption(f"{entry.name}: the experiment it was trained on is not recorded.")
    return entry


def event_settings(sidebar):
    if event_detection is None:
        return None
    defaults = event_detection.EventSettings()
    sidebar.subheader("Collapse events")
    drop = sidebar.number_input("Drop from the running peak (%)", 1.0, 95.0, float(defaults.drop_percent), 1.0,
                                key="review_drop",
                                help="37 % of the area is about 50 % of a sphere's volume, the field's "
                                     "collapse definition (Marcos et al. 2015).")
    within = sidebar.number_input("Within (minutes)", 10.0, 24 * 60.0, float(defaults.within_minutes), 10.0,
                                  key="review_within", help="The drop must happen within this time.")
    recover = sidebar.slider("Recovered at (fraction of the pre-collapse peak)", 0.5, 1.0,
                             float(defaults.recover_fraction), 0.05, key="review_recover")
    return dataclasses.replace(defaults, drop_percent=float(drop), within_minutes=float(within),
                               recover_fraction=float(recover))


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
    show_manual = sidebar.toggle("Show hand masks", True,
                                 help="Dashed blue outline on the annotated frames, over the model's.")
    fps = sidebar.slider("Playback (frames/s)", 1, MAX_FPS, 8, key="review_fps",
                         help="The movie plays in the browser at this rate.")
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


def manual_section(experiment, pool, table) -> Manual:
    """The pool's manual measurements: an upload that names it, else the saved ones (no click)."""
    upload = st.file_uploader("Manual measurements (CSV/XLSX): a column of areas, optionally frame or time, "
                              "and a pool column for several pools", type=["csv", "xlsx", "txt"],
                              key="review_upload", on_change=lambda: ss.update(review_upload_pool=pool))
    manual, origin = None, "none"
    with report_errors():
        manual, origin = measurements_for_pool(
            experiment, pool, upload=upload, upload_name=getattr(upload, "name", None),
            uploaded_for=ss.get("review_upload_pool", pool))
    if upload is not None:
        with report_errors():
            targets = upload_pools(upload.getvalue(), uploaded_for=ss.get("review_upload_pool", pool),
                                   name=upload.name)
            st.caption(f"{upload.name} applies to pool{'s' if len(targets) > 1 else ''} "
                       f"{', '.join(map(str, targets))}.")
            if st.button(f"Save them with the experiment (pool{'s' if len(targets) > 1 else ''} "
                         f"{', '.join(map(str, targets))})", key="review_save_upload"):
                paths = save_upload(experiment, upload, uploaded_for=ss.get("review_upload_pool", pool),
                                    name=upload.name)
                st.success(f"Saved {', '.join(str(p.relative_to(experiment.path)) for p in paths)}.")
    if manual is not None:
        where = "uploaded file" if origin == "upload" else "saved with the experiment"
        st.caption(f"Manual measurements of pool {pool}: {len(manual)} frames, column {manual.column!r} "
                   f"({where}).")
    else:
        st.caption(f"No manual measurements for pool {pool}.")
    c1, c2 = st.columns(2)
    normalised = c1.toggle("Normalised (min-max)", True, help="As the lab compares curves; off: absolute units.")
    available = [u for u in UNITS if table[u].notna().any()]
    unit = best_unit(table)
    unit = c2.selectbox("Unit", available, index=available.index(unit), format_func=UNIT_LABELS.get,
                        disabled=normalised, label_visibility="collapsed")
    manual_unit = unit
    if manual is not None and not normalised:
        guess = charts.guess_manual_unit(manual)
        manual_unit = st.selectbox(f"Manual column {manual.column!r} is in", available,
                                   index=available.index(guess) if guess in available else 0,
                                   format_func=UNIT_LABELS.get)
    return Manual(measurements=manual, normalised=normalised, unit=unit, manual_unit=manual_unit)


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


def plate_curves(experiment, cached, pool, table, model_path, post_key) -> dict:
    """Every predicted pool's area table, by pool (the shown pool's is ``table``)."""
    # The shown pool's table is the one computed for the same cache stamp (nothing on this page
    # mutates it: charts and exports read it or copy it); the other pools come from pool_table.
    return {p: table if p == pool else
            pool_table(str(experiment.path), p, str(model_path), post_key, cache_stamp(experiment, model_path, p))
            for p in cached}


def events_section(pool, pool_events, settings) -> None:
    """The shown pool's collapses, one row each; clicking a row shows its start in the movie."""
    st.subheader("Collapse events")
    if event_detection is None:
        st.caption("Event detection (blasto.review.events) is not installed in this build.")
        return
    if pool_events is None:
        st.caption("No curve for this pool yet.")
        return
    collapses = pool_events.collapses
    rate = pool_events.expansion_rate
    peak = pool_events.max_expansion_hours
    m1, m2, m3 = st.columns(3)
    m1.metric("Collapses", len(collapses))
    unit = UNIT_LABELS.get(pool_events.unit, pool_events.unit).removeprefix("area (").removesuffix(")")
    m2.metric("Expansion rate", f"{rate:,.0f} {unit}/h" if rate is not None else "–",
              help="Area gained per hour on the rising parts of the curve.")
    m3.metric("Maximum expansion", f"{peak:.1f} h" if peak is not None else
              (f"frame {pool_events.max_expansion_frame}" if pool_events.max_expansion_frame is not None else "–"))
    st.caption(f"A collapse: the area drops at least {settings.drop_percent:g} % below its running peak "
               f"within {settings.within_minutes:g} min; recovered once back at "
               f"{settings.recover_fraction:.0%} of the pre-collapse peak.")
    if not collapses:
        st.caption(f"No collapse detected in pool {pool}.")
        return
    rows = pd.DataFrame({
        "start frame": [c.start_frame for c in collapses],
        "start (h)": [c.start_hours for c in collapses],
        "depth (%)": [c.depth_percent for c in collapses],
        "bottom frame": [c.bottom_frame for c in collapses],
        "recovered at frame": [c.recovery_frame for c in collapses],
        "hours to recover": [c.hours_to_recover for c in collapses],
    }, index=pd.RangeIndex(1, len(collapses) + 1, name="collapse"))
    rows["recovered at frame"] = rows["recovered at frame"].astype("Int64")
    st.dataframe(rows.style.format({"start (h)": "{:.2f}", "depth (%)": "{:.0f}",
                                    "hours to recover": lambda v: "not recovered" if pd.isna(v) else f"{v:.2f}"}),
                 key=Keys.EVENT, on_select=lambda: event_clicked([c.start_frame for c in collapses]),
                 selection_mode="single-row", width="stretch", height=min(300, 38 + 35 * len(rows)))
    st.caption("Click a row to show its collapse in the movie.")


def all_pools(experiment, pools, curves, pool, unit, normalised, events) -> str:
    """Every predicted pool's curve in a plate-shaped grid, with its collapses; returns the unit drawn."""
    st.subheader("All pools")
    missing = [p for p in pools if p not in curves]
    if missing:
        st.caption(f"Not predicted yet: pools {', '.join(map(str, missing))} (use “Predict pools” above).")
    grid_unit = unit if all(curves[p][unit].notna().any() for p in curves) else "area_px"
    st.plotly_chart(charts.small_multiples(curves, unit=grid_unit, current=pool, normalised=normalised,
                                           events=events),
                    key=Keys.GRID, on_select=grid_clicked, selection_mode="points", config={"displaylogo": False})
    st.caption("Click a curve to open its pool." + (" Shaded: collapses (▼ start)." if events else ""))
    if events:
        summary = event_detection.summary_table(list(events.values()))
        with st.expander(f"Events of every pool ({sum(len(e.collapses) for e in events.values())} collapses)"):
            st.dataframe(summary, hide_index=True, width="stretch")
    return grid_unit


def exports(experiment, pool, movie, masks, curves, model_path, model_name, post, look: Look, events,
            settings) -> None:
    st.subheader("Export")
    e1, e2, e3 = st.columns(3)
    e1.download_button(
        f"Areas CSV ({len(curves)} pools)",
        data=lambda: charts.export_areas([curves[p] for p in sorted(curves)], model=model_name, post=post,
                                         events=events).to_csv(index=False),
        file_name=f"{experiment.name}-{model_name}-areas.csv", mime="text/csv", on_click="ignore",
        width="stretch")

    def overlay_frames(scale=2):
        hand = experiment.annotated_frames(pool)
        manual_masks = {f: experiment.read_mask(pool, f) for f in hand} if look.show_manual else None
        labels = overlay.frame_labels(len(movie), frame_interval_s=experiment.manifest.frame_interval_s)
        return overlay.overlay_movie(movie, masks, manual=manual_masks, style=look.style, colour=look.colour,
                                     opacity=look.opacity, scale=scale, labels=labels)

    e2.download_button(f"Overlay MP4 (pool {pool})", data=lambda: overlay.mp4_bytes(overlay_frames(), fps=look.fps),
                       file_name=f"{experiment.name}-pool{pool:02d}-{model_name}.mp4", mime="video/mp4",
                       on_click="ignore", width="stretch")
    e3.download_button(f"Overlay GIF (pool {pool})",
                       data=lambda: overlay.gif_bytes(overlay_frames(scale=1), fps=look.fps),
                       file_name=f"{experiment.name}-pool{pool:02d}-{model_name}.gif", mime="image/gif",
                       on_click="ignore", width="stretch")
    if events:
        f1, f2 = st.columns([1, 2])
        f1.download_button(
            f"Events CSV ({sum(len(e.collapses) for e in events.values())} collapses)",
            data=lambda: event_detection.events_table([events[p] for p in sorted(events)]).to_csv(index=False),
            file_name=f"{experiment.name}-{model_name}-events.csv", mime="text/csv", on_click="ignore",
            width="stretch")
        plate_report(experiment, model_path, model_name, settings, post, f2)
    st.caption(f"{post.describe()} · model {model_name}. Movies carry each frame's number and time.")


def plate_report(experiment, model_path, model_name, settings, post, where) -> None:
    """Write the plate report (HTML and PNG figures) with the experiment; offer it as a zip."""
    try:
        from blasto.review.report import write_report
    except ImportError:  # blasto.review.report not there yet
        where.caption("The plate report (blasto.review.report) is not installed in this build.")
        return
    with where:
        if st.button("Plate report (HTML + figures)", key="review_report", width="stretch"):
            with report_errors(), st.spinner("Writing the plate report…"):
                out = experiment.path / "reports" / model_name
                page = write_report(experiment, model_path, out, settings=settings, post=post)
                ss["review_report_zip"] = (str(out), str(page), zip_folder(Path(page).parent))
                st.rerun()  # the report predicted every pool: show them all
        made = ss.get("review_report_zip")
        if made and made[0] == str(experiment.path / "reports" / model_name):
            _, page, data = made
            st.download_button("Download the plate report (zip)", data=data, mime="application/zip",
                               file_name=f"{experiment.name}-{model_name}-report.zip", on_click="ignore",
                               width="stretch")
            st.caption(f"Also kept at {page}.")


def zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder))
    return buffer.getvalue()


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
    model_path = choose_model(experiment, models, sidebar).path
    model_name = model_id(model_path)
    post = measure_settings(sidebar)
    post_key = dataclasses.astuple(post)  # field order: the caches rebuild it as PostProcessing(*post_key)
    settings = event_settings(sidebar)
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
    if Keys.FRAME not in ss or not 0 <= ss[Keys.FRAME] < len(movie) or ss.get("review_frame_pool") != pool:
        ss[Keys.FRAME] = 0  # a new pool starts at its first frame
        ss["review_frame_pool"] = pool

    viewer_slot = st.container()  # movie and chart go here; their inputs below need reading first
    below_left, below_right = st.columns([5, 6], gap="large")
    with below_right:
        manual = manual_section(experiment, pool, table)
    measurements = manual.measurements
    result = agreement(table[manual.unit].to_numpy(), measurements) if measurements is not None and len(measurements) else None
    curves = plate_curves(experiment, cached, pool, table, model_path, post_key)
    events = {}
    with report_errors():
        events = plate_events(experiment, curves, model_path=model_path, post_key=post_key, settings=settings)
    shown_events = events.get(pool)
    with viewer_slot:
        viewer(experiment, pool, movie, masks, table, look, manual,
               highlight=result.most_different["frame"].tolist() if result is not None else [],
               model_path=model_path, post_key=post_key,
               collapses=shown_events.collapses if shown_events is not None else ())
    if result is not None:
        with below_right:
            agreement_metrics(result)
    with below_left:
        events_section(pool, shown_events, settings)
        hand_mask_scores(experiment, pool, masks)
    all_pools(experiment, pools, curves, pool, manual.unit, manual.normalised, events)
    exports(experiment, pool, movie, masks, curves, model_path, model_name, post, look, events, settings)


if __name__ == "__main__":
    run_page(main, title="Review")
