"""Train: pick the settings, start a run, watch the loss live, stop by hand.

The run trains in its own process (blasto.train.engine.start_run), so a refresh, a second tab,
"Clear cache" or a server restart neither stops nor duplicates it; this page only reads the
run folder it writes.
"""

import dataclasses

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from blasto.train import engine as training

from blasto.app import common as ui
from blasto.review.areas import DEFAULT_THRESHOLD
from blasto.errors import BlastoError

REFRESH_S = 1.5
SMOOTHING = 0.9  # exponential moving average of the per-batch loss, as TensorBoard does


def smoothed(values, *, weight=SMOOTHING) -> np.ndarray:
    """Exponential moving average with bias correction (the first points are not pulled to 0)."""
    out, average = np.empty(len(values)), 0.0
    for i, value in enumerate(values):
        average = weight * average + (1 - weight) * value
        out[i] = average / (1 - weight ** (i + 1))
    return out


def settings_form(experiment_name: str) -> training.TrainConfig | None:
    """The run's settings, grouped as the lab thinks of them; None while they are invalid."""
    preset = st.radio("Recipe", ["blasto", "seed"], horizontal=True,
                      captions=["Adam, cosine decay, BCE + Dice: confident at threshold 0.8",
                                "the lab's notebook: RMSprop 1e-3, binary cross-entropy"])
    base = training.TrainConfig.from_preset(preset, experiment=experiment_name)
    c1, c2, c3, c4 = st.columns(4)
    epochs = c1.number_input("Epochs", 1, 10_000, base.epochs)
    steps = c2.number_input("Steps per epoch", 1, 100_000, base.steps_per_epoch)
    batch = c3.number_input("Batch size", 1, 256, base.batch_size)
    rate = c4.number_input("Learning rate", 1e-6, 0.5, base.learning_rate, format="%.5f")
    c1, c2, c3, c4 = st.columns(4)
    optimizer = c1.selectbox("Optimizer", training.OPTIMIZERS, training.OPTIMIZERS.index(base.optimizer))
    filters = c2.selectbox("Start filters", [4, 8, 16, 32, 64], [4, 8, 16, 32, 64].index(base.start_filters),
                           help="32 is the lab's U-Net (8.6 M parameters); fewer trains faster.")
    dropout = c3.toggle("Dropout", base.dropout)
    precisions = training.PRECISIONS
    precision = c4.selectbox(
        "Precision", list(precisions), list(precisions.values()).index(base.mixed_precision),
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
            dropout=dropout, mixed_precision=precisions[precision],
            early_stopping=None if early == "off" else early, patience=int(patience),
            stop_at_val_loss=float(stop_at) or None, augment=augment)
    except BlastoError as exc:
        st.error(str(exc))
        return None


def loss_chart(runs: list[dict], *, title="Loss") -> go.Figure:
    """Training loss (per batch, smoothed) and per-epoch loss / val_loss of one or more runs."""
    figure = go.Figure()
    for run in runs:
        name = run["run_id"] if len(runs) > 1 else ""
        steps = run["config"].get("steps_per_epoch") or 1
        batches = run["batches"]
        if batches:
            x = [(b["epoch"] - 1) + b["step"] / steps for b in batches]
            losses = [b["loss"] for b in batches]
            figure.add_scatter(x=x, y=losses, mode="lines", name=f"{name} batch loss".strip(),
                               line=dict(width=1), opacity=0.25, showlegend=len(runs) == 1)
            figure.add_scatter(x=x, y=smoothed(losses), mode="lines",
                               name=f"{name} loss (smoothed)".strip())
        history = run["history"]
        if history:
            epochs = [h["epoch"] for h in history]
            figure.add_scatter(x=epochs, y=[h.get("loss") for h in history], mode="markers",
                               name=f"{name} loss (epoch)".strip(), marker=dict(size=7))
            figure.add_scatter(x=epochs, y=[h.get("val_loss") for h in history],
                               mode="lines+markers", name=f"{name} val_loss".strip(),
                               line=dict(width=3))
    figure.update_layout(title=title, xaxis_title="epoch", yaxis_title="loss", height=420,
                         margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h"))
    return figure


def duration(seconds) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def status_line(run: dict) -> str:
    s = run["status"]
    parts = [f"**{run['run_id']}**",
             training.STATE_LABELS.get(s.get("state"), s.get("state") or "?"),
             f"epoch {s.get('epoch', 0)}/{s.get('epochs', '?')}",
             f"step {s.get('step', 0)}/{s.get('steps_per_epoch', '?')}",
             f"elapsed {duration(s.get('elapsed_s'))}"]
    if run["active"]:
        parts.append(f"ETA {duration(s.get('eta_s'))}")
    if s.get("best_val_loss") is not None:
        parts.append(f"best val_loss {s['best_val_loss']:.4f}")
    if s.get("precision"):
        parts.append(s["precision"])
    return " · ".join(parts)


@st.fragment(run_every=REFRESH_S)
def live_run() -> None:
    """The run going now (or the last one started here): status, chart and Stop, refreshed."""
    running = training.active_run()  # one look at the lock per refresh
    run_dir = running or st.session_state.get("last_run")
    if run_dir is None:
        st.info("No training run is going. Pick the settings above and press Start.")
        return
    run = training.read_run(run_dir, running=running)
    state = run["status"].get("state")
    reason = run["status"].get("precision_reason")
    st.markdown(status_line(run), help="Updates by itself every couple of seconds."
                + (f" Precision {reason}." if reason else ""))
    if state == "failed":
        st.error(f"Training failed: {run['status'].get('error')}")
    if run["active"]:
        if st.button("Stop", type="primary", icon=":material/stop_circle:",
                     help="Ends training within one batch and keeps the best checkpoint."):
            with ui.report_errors():
                training.request_stop(run["path"])
                st.toast("Stopping after this batch…")
    elif state in training.STATE_LABELS:
        resume_controls(run, key="live", busy=running is not None)
    st.plotly_chart(loss_chart([run]), key="live_chart")
    if not run["active"] and st.session_state.get("last_run"):
        # The run ended (read_run reports a live state without the lock as failed): refresh the whole page once so the runs table shows it.
        if st.session_state.get("announced_end") != str(run["path"]):
            st.session_state["announced_end"] = str(run["path"])
            st.rerun()


def resume_controls(run: dict, *, key: str, busy: bool) -> None:
    """Epochs in all and a Resume button for a run that is not going (from its last weights);
    ``busy``: another run is training, so none can resume now."""
    done = len(run["history"])
    planned = int(run["config"].get("epochs") or 1)
    c1, c2 = st.columns([1, 3], vertical_alignment="bottom")
    epochs = c1.number_input("Epochs in all", 1, 10_000, max(planned, done + 1), key=f"{key}_epochs",
                             help=f"{done} done. A finished run needs more epochs to resume.")
    refusal = training.resume_refusal(run["path"], epochs=epochs)
    if c2.button(f"Resume {run['run_id']}", icon=":material/resume:", key=f"{key}_resume",
                 disabled=refusal is not None or busy,
                 help=refusal or "Carries on from the last finished epoch's weights."):
        with ui.report_errors():
            st.session_state["last_run"] = training.resume_run(run["path"], epochs=epochs)
            st.session_state.pop("announced_end", None)
            st.rerun()


def runs_section(experiment_name: str, running) -> None:
    """Every run; ``running``: the folder of the run training now (or None)."""
    runs = training.list_runs()
    if not runs:
        st.info("No runs yet.")
        return
    table = pd.DataFrame([{
        "run": r["run_id"], "experiment": r["experiment"], "status": r["status"],
        "epochs": f"{r['epochs_done']}/{r['epochs']}", "steps/epoch": r["steps_per_epoch"],
        "batch": r["batch_size"], "optimizer": r["optimizer"], "learning rate": r["learning_rate"],
        "filters": r["start_filters"], "dropout": r["dropout"], "precision": r["precision"],
        "preset": r["preset"],
        "best val_loss": r["best_val_loss"], "val Dice @0.8": r["val_dice"],
        "val IoU @0.8": r["val_iou"],
    } for r in runs])
    st.caption("Select runs (left column) to overlay their curves, preview or delete them.")
    event = st.dataframe(table, hide_index=True, on_select="rerun", selection_mode="multi-row",
                         key="runs_table", width="stretch",
                         column_config={"best val_loss": st.column_config.NumberColumn(format="%.4f"),
                                        "val Dice @0.8": st.column_config.NumberColumn(format="%.3f"),
                                        "val IoU @0.8": st.column_config.NumberColumn(format="%.3f")})
    chosen = [runs[i] for i in event.selection.rows]
    # The runs also as text, so that they are searchable and readable by screen readers.
    with st.expander("Runs as a list"):
        for r in runs:
            best = "–" if r["best_val_loss"] is None else f"{r['best_val_loss']:.4f}"
            st.markdown(f"- `{r['run_id']}`: {r['status']}, best val_loss {best}")
    if not chosen:
        return
    selected = [training.read_run(r["path"], running=running) for r in chosen]
    st.plotly_chart(loss_chart(selected, title="Selected runs"), key="compare_chart")
    if not selected[0]["active"]:
        resume_controls(selected[0], key="table", busy=running is not None)
    c1, c2 = st.columns(2)
    if c1.button(f"Preview {chosen[0]['run_id']} on validation frames", disabled=not chosen[0]["has_model"]):
        preview(chosen[0], experiment_name)
    if c2.button(f"Delete {len(chosen)} selected run(s)", icon=":material/delete:"):
        with ui.report_errors():
            for r in chosen:
                training.delete_run(r["path"])
            st.rerun()


def preview(run: dict, experiment_name: str, *, count=4) -> None:
    """A few validation frames with the best checkpoint's mask over them."""
    from blasto.train.dataset import collect_frames
    from blasto.store.experiment import open_experiment
    from blasto.model.unet import load_model, predict_probabilities
    from blasto.review.overlay import overlay_frame

    with ui.report_errors(), st.spinner("Predicting…"):
        frames = collect_frames(open_experiment(experiment_name), "validation")
        if not len(frames):
            st.info("This experiment has no annotated validation frame to preview.")
            return
        pick = np.linspace(0, len(frames) - 1, min(count, len(frames))).astype(int)
        model = load_model(run["path"])
        probabilities = predict_probabilities(model, frames.images[pick])
        threshold = DEFAULT_THRESHOLD
        columns = st.columns(len(pick))
        for column, i, p in zip(columns, pick, probabilities):
            image = overlay_frame(frames.images[i], p >= threshold, manual=frames.masks[i])
            column.image(image, caption=frames.sources[i], output_format="PNG")
        st.caption(f"Model outline at threshold {threshold}; the hand mask in the second colour.")


def main():
    ui.page_setup("Train")
    st.title("Train")
    experiment = ui.pick_experiment()
    if experiment is None:
        return
    split = experiment.manifest["split"]
    st.caption(f"Experiment **{experiment.name}**: training pools {split.get('train')}, "
               f"validation pools {split.get('validation')}.")
    running = training.active_run()
    with st.expander("Settings", expanded=running is None):
        config = settings_form(experiment.name)
        if st.button("Start training", type="primary", icon=":material/play_arrow:",
                     disabled=config is None or running is not None,
                     help="Only one run at a time on this machine." if running else None):
            with ui.report_errors():
                run_dir = training.start_run(config)
                st.session_state["last_run"] = run_dir
                st.rerun()
    st.subheader("Live")
    live_run()
    st.subheader("Runs")
    runs_section(experiment.name, running)


main()
