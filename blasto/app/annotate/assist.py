"""The Draw step's proposals: the model proposes, the person corrects.

Propose (a model's mask), Copy previous (the nearest saved mask of the pool), Interpolate
(between the pool's saved keyframes), Frames to check next (the pool's frames, most doubtful
first) and Retrain from corrections. The work is done by ``blasto.annotate.propose``,
``interpolate``, ``uncertainty`` and ``retrain``; a proposal lands on the canvas as one
ordinary edit (one undo step) and is recorded in the frame's strokes file when saved.

Those modules come from another branch of work: until they are there, this panel is hidden.
"""

from __future__ import annotations

import importlib

import streamlit as st

from blasto.annotate.edit import Slot
from blasto.app.annotate import editing
from blasto.app.annotate.state import Keys, state
from blasto.errors import BlastoError

ss = st.session_state


def _module(name):
    try:
        return importlib.import_module(f"blasto.annotate.{name}")
    except ImportError:
        return None


def available() -> bool:
    """Whether the proposal modules are installed (this panel shows only then)."""
    return all(_module(n) is not None for n in ("propose", "interpolate"))


# -- applying proposals ------------------------------------------------------------------------
def chosen_model(experiment) -> str | None:
    return ss.get(Keys.MODEL) or default_model_name(experiment)


def default_model_name(experiment) -> str | None:
    from blasto.model.files import default_model

    entry = default_model(experiment.name)
    return entry.name if entry is not None else None


def apply(kind: str, experiment_name: str, slot: Slot) -> None:
    """Run one proposal action on the mask being edited (a callback or a surface key)."""
    from blasto.store.experiment import open_experiment

    page = state()
    page.assist = None
    if slot.imported:
        page.toasts.append("Proposals work on pool frames, not on imported pairs.")
        return
    experiment = open_experiment(experiment_name)
    edit = editing.edit_for(experiment, slot)
    try:
        if kind == "propose":
            model = chosen_model(experiment)
            if model is None:
                raise BlastoError("No model to propose with: train one on the Train page.")
            with st.spinner(f"Model {model} is proposing a mask..."):
                found = _module("propose").propose_masks(experiment, slot.pool, [slot.frame],
                                                        model=model)
            proposal = found[0] if found else None
        elif kind == "copy":
            proposal = _module("propose").copy_previous(experiment, slot.pool, slot.frame)
            if proposal is None:
                raise BlastoError(f"Pool {slot.pool} has no saved mask to copy yet.")
        else:
            found = _module("interpolate").interpolate_pool(experiment, slot.pool,
                                                            frames=[slot.frame])
            proposal = next((p for p in found if p.frame == slot.frame), None)
            if proposal is None:
                raise BlastoError(f"Frame {slot.frame} does not lie between two saved masks of "
                                  f"pool {slot.pool}: nothing to interpolate.")
    except BlastoError as exc:
        page.error = str(exc)
        return
    edit.propose(proposal.mask, proposal.source)
    page.toasts.append(f"{proposal.source.capitalize()}: correct it, then save (Undo takes it "
                       "back).")


# -- the panel -----------------------------------------------------------------------------------
def panel(experiment, slot: Slot, edit) -> None:
    """Propose, Copy previous, Interpolate (with the model picker), and Frames to check next."""
    page = state()
    if not available():
        page.assist = None
        return
    if page.assist:  # asked from the surface's keys (P, C, I)
        apply(page.assist, experiment.name, slot)
    if slot.imported:
        return
    from blasto.model.files import list_models

    names = [m.name for m in list_models()]
    default = default_model_name(experiment)
    if names:
        if ss.get(Keys.MODEL) not in names:
            ss[Keys.MODEL] = default if default in names else names[0]
        st.selectbox("Model for proposals", names, key=Keys.MODEL,
                     format_func=lambda n: n + (" (default)" if n == default else ""))
    propose, copy, interpolate = st.columns(3)
    propose.button("Propose", icon=":material/auto_fix_high:", width="stretch",
                   key="anno_propose", disabled=not names, on_click=apply,
                   args=("propose", experiment.name, slot), help="The model draws the mask (P).")
    copy.button("Copy previous", icon=":material/content_copy:", width="stretch",
                key="anno_copy", on_click=apply, args=("copy", experiment.name, slot),
                help="Start from the nearest saved mask of this pool (C).")
    interpolate.button("Interpolate", icon=":material/timeline:", width="stretch",
                       key="anno_interpolate", on_click=apply,
                       args=("interpolate", experiment.name, slot),
                       help="Blend the saved masks before and after this frame (I).")
    check_panel(experiment, slot, names)


def check_panel(experiment, slot: Slot, names) -> None:
    """Walk the pool's frames in the order of the model's doubt."""
    uncertainty = _module("uncertainty")
    if uncertainty is None or not names:
        return
    page = state()
    key = f"{experiment.name}|{slot.pool}"
    if page.check is None or page.check[0] != key:
        if st.button("Frames to check next", icon=":material/troubleshoot:", key="anno_check",
                     help="Rank this pool's frames by the model's doubt (uncertain pixels, "
                          "jumps in area) and walk them, most doubtful first."):
            try:
                with st.spinner("Ranking the pool's frames..."):
                    doubts = uncertainty.frames_to_check(experiment, slot.pool,
                                                         model=chosen_model(experiment))
            except BlastoError as exc:
                st.error(str(exc))
                return
            page.check = (key, 0, tuple(d.frame for d in doubts))
            st.rerun()
        return
    _, index, frames = page.check
    if not frames:
        st.caption("No frames to check.")
        return
    st.caption(f"Checking frame {index + 1} of {len(frames)} by doubt: frame {frames[index]}.")
    back, forward, done = st.columns(3)

    def go(step):
        new = min(max(index + step, 0), len(frames) - 1)
        page.check = (key, new, frames)
        page.nav.pool, page.nav.frame = slot.pool, frames[new]

    back.button("More doubtful", key="anno_check_back", width="stretch", disabled=index == 0,
                on_click=go, args=(-1,))
    forward.button("Less doubtful", key="anno_check_next", width="stretch",
                   disabled=index >= len(frames) - 1, on_click=go, args=(1,))
    done.button("Stop checking", key="anno_check_stop", width="stretch",
                on_click=lambda: setattr(page, "check", None))


def retrain_panel(experiment) -> None:
    """Start a short fine-tuning run from the chosen model on all saved masks (with Stop)."""
    retrain = _module("retrain")
    if retrain is None:
        return
    from blasto.train import supervisor

    with st.expander("Retrain from corrections"):
        active = supervisor.active_run()
        if active is not None:
            status = active.status
            st.write(f"Training run **{active.name}**: {status.state or 'starting'}, epoch "
                     f"{status.epoch} of {status.epochs or '?'}.")
            if st.button("Stop", icon=":material/stop_circle:", key="anno_retrain_stop"):
                supervisor.request_stop(active)
                st.rerun()
            return
        model = chosen_model(experiment)
        st.caption(f"A short fine-tuning run from {model or 'the default model'} on every saved "
                   "mask of this experiment (follow it on the Train page).")
        if st.button("Retrain from corrections", icon=":material/model_training:",
                     key="anno_retrain", disabled=model is None):
            try:
                run = retrain.start_retrain(experiment, model=model)
            except BlastoError as exc:
                st.error(str(exc))
                return
            st.toast(f"Started run {run.name}.", icon=":material/model_training:")
            st.rerun()
