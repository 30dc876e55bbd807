"""Train: pick the settings, start a run, watch the loss live, stop by hand.

The run trains in its own process (blasto.train.supervisor.start_run), so a refresh, a second
tab, "Clear cache" or a server restart neither stops nor duplicates it; this page only reads the
run folder it writes (blasto.train.runs.Run) and shows what blasto.train.display and
blasto.train.evaluate make of it.
"""

import dataclasses

import streamlit as st

from blasto.app.common import open_page, report_errors, run_page
from blasto.errors import BlastoError
from blasto.masks import THRESHOLD
from blasto.train import display
from blasto.train.config import OPTIMIZERS, PRECISIONS, STATE_LABELS, TrainConfig
from blasto.train.runs import Run, delete_run, list_runs
from blasto.train.supervisor import active_run, request_stop, resume_run, start_run

REFRESH_S = 1.5


def settings_form(experiment_name: str) -> TrainConfig | None:
    """The run's settings, grouped as the lab thinks of them; None while they are invalid."""
    preset = st.radio("Recipe", ["blasto", "seed"], horizontal=True,
                      captions=[f"Adam, cosine decay, BCE + Dice: confident at threshold {THRESHOLD}",
                                "the lab's notebook: RMSprop 1e-3, binary cross-entropy"])
    base = TrainConfig.from_preset(preset, experiment=experiment_name)
    c1, c2, c3, c4 = st.columns(4)
    epochs = c1.number_input("Epochs", 1, 10_000, base.epochs)
    steps = c2.number_input("Steps per epoch", 1, 100_000, base.steps_per_epoch)
    batch = c3.number_input("Batch size", 1, 256, base.batch_size)
    rate = c4.number_input("Learning rate", 1e-6, 0.5, base.learning_rate, format="%.5f")
    c1, c2, c3, c4 = st.columns(4)
    optimizer = c1.selectbox("Optimizer", OPTIMIZERS, OPTIMIZERS.index(base.optimizer))
    filters = c2.selectbox("Start filters", [4, 8, 16, 32, 64], [4, 8, 16, 32, 64].index(base.start_filters),
                           help="32 is the lab's U-Net (8.6 M parameters); fewer trains faster.")
    dropout = c3.toggle("Dropout", base.dropout)
    precision = c4.selectbox(
        "Precision", list(PRECISIONS), list(PRECISIONS.values()).index(base.mixed_precision),
        help="auto: whichever this machine trains faster, float32 or mixed bfloat16 (measured "
             "once, a few seconds, at the first run). Both reach the same Dice on the demo.")
    c1, c2, c3 = st.columns(3)
    early = c1.selectbox("Early stopping", ["off", "loss", "val_loss"])
    patience = c2.number_input("Patience (epochs)", 1, 1000, base.patience, disabled=early == "off")
    stop_at = c3.number_input("Stop when val_loss ≤ (0 = off)", 0.0, 10.0, 0.0, format="%.3f",
                              help="The lab's rule of thumb: stop at about 0.08.")
    with st.expander("Augmentation (training frames only; validation is only scaled)"):
        a = base.augment
        c1, c2, c3 = st.columns(3)
        enabled = c1.toggle("Augment", a.enabled)
        rotation = c1.number_input("Rotation up to (deg)", 0.0, 180.0, a.rotation_deg)
        width_shift = c2.number_input("Width shift (fraction)", 0.0, 0.9, a.width_shift)
        height_shift = c2.number_input("Height shift (fraction)", 0.0, 0.9, a.height_shift)
        shear = c3.number_input("Shear (deg)", 0.0, 45.0, a.shear_deg,
                                help="The seed's 0.2 was read by Keras as degrees: practically none. "
                                     "0.2 rad is about 11.5 deg.")
        zoom = c3.number_input("Zoom (±fraction)", 0.0, 0.5, a.zoom, format="%.3f")
        c1, c2 = st.columns(2)
        hflip = c1.toggle("Horizontal flip", a.horizontal_flip)
        vflip = c2.toggle("Vertical flip", a.vertical_flip)
    try:
        augment = dataclasses.replace(
            a, enabled=enabled, rotation_deg=rotation, width_shift=width_shift,
            height_shift=height_shift, shear_deg=shear, zoom=zoom, horizontal_flip=hflip,
            vertical_flip=vflip)
        return dataclasses.replace(
            base, epochs=int(epochs), steps_per_epoch=int(steps), batch_size=int(batch),
            learning_rate=float(rate), optimizer=optimizer, start_filters=int(filters),
            dropout=dropout, mixed_precision=PRECISIONS[precision],
            early_stopping=None if early == "off" else early, patience=int(patience),
            stop_at_val_loss=float(stop_at) or None, augment=augment)
    except BlastoError as exc:
        st.error(str(exc))
        return None


@st.fragment(run_every=REFRESH_S)
def live_run() -> None:
    """The run going now (or the last one started here): status, chart and Stop, refreshed."""
    running = active_run()  # one look at the lock per refresh
    if running is None and st.session_state.get("last_run") is None:
        st.info("No training run is going. Pick the settings above and press Start.")
        return
    try:
        run = running or Run(st.session_state["last_run"], active=False)
    except BlastoError:  # its folder was deleted
        st.session_state.pop("last_run")
        st.rerun()
    reason = run.status.precision_reason
    st.markdown(display.status_line(run), help="Updates by itself every couple of seconds."
                + (f" Precision {reason}." if reason else ""))
    if run.status.state == "failed":
        st.error(f"Training failed: {run.status.error}")
    if run.active:
        if st.button("Stop", type="primary", icon=":material/stop_circle:",
                     help="Ends training within one batch and keeps the best checkpoint."):
            with report_errors():
                request_stop(run)
                st.toast("Stopping after this batch…")
    elif run.status.state in STATE_LABELS:
        resume_controls(run, key="live", busy=running is not None)
    st.plotly_chart(display.loss_chart([run]), key="live_chart")
    if not run.active and st.session_state.get("last_run"):
        # The run ended (a live state without the lock reads as failed): refresh the whole
        # page once so the runs table shows it.
        if st.session_state.get("announced_end") != str(run.path):
            st.session_state["announced_end"] = str(run.path)
            st.rerun()


def resume_controls(run: Run, *, key: str, busy: bool) -> None:
    """Epochs in all and a Resume button for a run that is not going (from its last weights);
    ``busy``: another run is training, so none can resume now."""
    done = len(run.history)
    planned = run.status.epochs or 1
    c1, c2 = st.columns([1, 3], vertical_alignment="bottom")
    epochs = c1.number_input("Epochs in all", 1, 10_000, max(planned, done + 1), key=f"{key}_epochs",
                             help=f"{done} done. A finished run needs more epochs to resume.")
    refusal = run.resume_refusal(epochs=epochs)
    if c2.button(f"Resume {run.name}", icon=":material/resume:", key=f"{key}_resume",
                 disabled=refusal is not None or busy,
                 help=refusal or "Carries on from the last finished epoch's weights."):
        with report_errors():
            st.session_state["last_run"] = str(resume_run(run, epochs=epochs).path)
            st.session_state.pop("announced_end", None)
            st.rerun()


def runs_section(experiment, running) -> None:
    """Every run; ``running``: the run training now (or None)."""
    runs = list_runs()
    if not runs:
        st.info("No runs yet.")
        return
    summaries = [run.summary() for run in runs]
    st.caption("Select runs (left column) to overlay their curves, preview or delete them.")
    score = st.column_config.NumberColumn(format="%.3f")
    event = st.dataframe(display.runs_table(summaries), hide_index=True, on_select="rerun",
                         selection_mode="multi-row", key="runs_table", width="stretch",
                         column_config={"best val_loss": st.column_config.NumberColumn(format="%.4f"),
                                        display.DICE_COLUMN: score, display.IOU_COLUMN: score})
    chosen = [runs[i] for i in event.selection.rows]
    # The runs also as text, so that they are searchable and readable by screen readers.
    with st.expander("Runs as a list"):
        for r in summaries:
            best = "–" if r.best_val_loss is None else f"{r.best_val_loss:.4f}"
            st.markdown(f"- `{r.run_id}`: {r.label}, best val_loss {best}")
    if not chosen:
        return
    st.plotly_chart(display.loss_chart(chosen, title="Selected runs"), key="compare_chart")
    first = chosen[0]
    if not first.active:
        resume_controls(first, key="table", busy=running is not None)
    c1, c2 = st.columns(2)
    if c1.button(f"Preview {first.name} on validation frames", disabled=first.model_file is None):
        preview(first, experiment)
    if c2.button(f"Delete {len(chosen)} selected run(s)", icon=":material/delete:"):
        with report_errors():
            for run in chosen:
                delete_run(run)
            st.rerun()


def preview(run: Run, experiment) -> None:
    """A few validation frames with the best checkpoint's mask over them."""
    from blasto.train.evaluate import preview as preview_frames

    with report_errors(), st.spinner("Predicting…"):
        frames = preview_frames(run, experiment, threshold=THRESHOLD)
        if not frames:
            st.info("This experiment has no annotated validation frame to preview.")
            return
        for column, frame in zip(st.columns(len(frames)), frames):
            column.image(frame.image, caption=frame.caption, output_format="PNG")
        st.caption(f"Model outline at threshold {THRESHOLD}; the hand mask in the second colour.")


def main():
    experiment = open_page("Train")
    if experiment is None:
        return
    split, summary = experiment.manifest.split, experiment.summary()
    imported = f", {summary.imported_pairs} of them imported from the lab's folders" if summary.imported_pairs else ""
    st.caption(f"Experiment **{experiment.name}**: {summary.train_frames} training and "
               f"{summary.validation_frames} validation frames annotated{imported}; "
               f"training pools {split.train or 'none'}, validation pools {split.validation or 'none'}.")
    running = active_run()
    with st.expander("Settings", expanded=running is None):
        config = settings_form(experiment.name)
        if st.button("Start training", type="primary", icon=":material/play_arrow:",
                     disabled=config is None or running is not None,
                     help="Only one run at a time on this machine." if running else None):
            with report_errors():
                st.session_state["last_run"] = str(start_run(config).path)
                st.rerun()
    st.subheader("Live")
    live_run()
    st.subheader("Runs")
    runs_section(experiment, running)


if __name__ == "__main__":  # Streamlit runs a page as __main__
    run_page(main, title="Train")
