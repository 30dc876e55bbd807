"""Annotate: crop a plate into pools, clean the background, draw masks, split and exchange.

A thin page: the work is done by blasto.prepare (grid, crop, clean, split), blasto.annotate
(strokes -> masks, the editing visit of a frame, which frames to annotate, the lab's folders)
and blasto.movies.library (movies on the server).

Unsaved strokes are saved automatically when the user moves to another frame, pool, step,
experiment or page (never lost silently); Save (or the S key) saves without moving.
"""

import streamlit as st

from blasto.app.annotate.draw_step import step_draw
from blasto.app.annotate.editing import leave_all, show_toasts
from blasto.app.annotate.prepare_steps import step_clean, step_crop
from blasto.app.annotate.split_step import new_experiment_form, step_split
from blasto.app.annotate.state import STEPS, Keys, apply_pending, state
from blasto.app.common import on_leave, open_page, report_errors, run_page

ss = st.session_state


def first_step(experiment) -> str:
    """The step a fresh page opens on: the one a link names (``?step=draw``), else Draw when
    there are pools, else Crop."""
    wanted = st.query_params.get("step", "")
    matches = [s for s in STEPS if s.lower().startswith(wanted.lower())] if wanted else []
    has_pools = experiment is not None and experiment.pool_numbers
    return matches[0] if matches else ("Draw" if has_pools else "Crop")


def main():
    apply_pending()  # before the widgets it sets are drawn
    on_leave("Annotate", leave_all)  # another page opened: save the strokes left here
    experiment = open_page("Annotate")
    if Keys.STEP not in ss:
        ss[Keys.STEP] = first_step(experiment)
    step = st.radio("Step", STEPS, horizontal=True, key=Keys.STEP, label_visibility="collapsed",
                    format_func=lambda s: f"{STEPS.index(s) + 1} · {s}")
    # A step's result stays shown while the user is on the step it led to (the canvas's own
    # first report reruns the page at once, so a one-run message would flash and vanish).
    page = state()
    if page.notice and page.notice[0] == step:
        st.success(page.notice[1])
    else:
        page.notice = None
    if step != "Draw" or experiment is None:
        leave_all()  # autosave strokes left on the canvas
        show_toasts()
    with report_errors():
        if step == "Crop":
            step_crop(experiment)
        elif experiment is None:
            st.info("Choose or create an experiment first (step 1 crops a movie into one; "
                    "step 4 makes an empty one for the lab's masks).")
            if step == "Split & lab data":
                new_experiment_form()
        elif step == "Clean":
            step_clean(experiment)
        elif step == "Draw":
            step_draw(experiment)
        else:
            step_split(experiment)


if __name__ == "__main__":
    run_page(main, title="Annotate")
