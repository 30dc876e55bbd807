"""The Annotate page's step 3: draw masks on pool frames, one editing visit at a time; unsaved
strokes are saved when the user moves on."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import streamlit as st
from PIL import Image

from blasto.annotate import plan, strokes
from blasto.annotate.edit import FrameEdit, overlay
from blasto.app.annotate.state import Keys, Nav, Visit, state
from blasto.app.common import clock
from blasto.errors import BlastoError
from blasto.store.experiment import Experiment

TOOL_LABELS = {"outline": ":material/gesture: Outline", "brush": ":material/brush: Brush",
               "polygon": ":material/pentagon: Polygon"}
MODE_LABELS = {"add": ":material/add_circle: Add cell", "erase": ":material/ink_eraser: Erase"}
TOOL_HELP = {
    "outline": "Trace around the cell and come back near where you started: the outline fills. "
               "Two cells in one pool are both cell.",
    "brush": "Paint with a round brush: good for touching up edges.",
    "polygon": "Click corner after corner; click the first corner again to close the polygon.",
}
ss = st.session_state


# -- step 3: draw: the frame being edited ---------------------------------------------------------
def canvas_key(visit: Visit) -> str:
    """A new key, hence a new canvas showing ``edit.initial_drawing``, whenever undo, redo or
    clear changed the strokes behind the canvas's back (they bump the revision)."""
    return f"anno_canvas_{visit.canvas_uid}_{visit.edit.revision}"


def sync_canvas(visit: Visit) -> None:
    """Take the strokes the canvas reported since the last run (before anything acts on them)."""
    value = ss.get(canvas_key(visit))
    try:
        objects = value["drawing"]["raw"]["objects"]
    except (TypeError, KeyError):
        return
    visit.edit.update(objects)


def save_visit(visit: Visit, *, moving=False, experiment=None) -> None:
    if experiment is None or str(experiment.path) != visit.experiment_path:
        experiment = Experiment(visit.experiment_path)
    visit.edit.save(experiment)
    where = f"pool {visit.edit.pool}, frame {visit.edit.frame}"
    st.toast(f"Saved {where}" + (" before moving on." if moving else "."), icon=":material/save:")


def leave_visit(experiment=None) -> None:
    """Autosave the frame being edited (if it has unsaved strokes) and forget it."""
    visit = state().visit
    if visit is not None:
        sync_canvas(visit)
        if visit.edit.dirty:
            save_visit(visit, moving=True, experiment=experiment)
    state().visit = None


def leave_visit_unless(experiment, pool, frame) -> None:
    """Autosave and forget the visit if it is not of this frame (the user moved on)."""
    visit = state().visit
    if visit is not None and (visit.experiment_path, visit.edit.pool, visit.edit.frame) != (
            str(experiment.path), pool, frame):
        leave_visit(experiment)


def current_visit(experiment, pool, frame, canvas_size) -> Visit:
    leave_visit_unless(experiment, pool, frame)
    page = state()
    if page.visit is not None:
        sync_canvas(page.visit)
    else:
        page.canvas_count += 1
        page.visit = Visit(edit=FrameEdit.open(experiment, pool, frame, canvas_size=canvas_size),
                           experiment_path=str(experiment.path), canvas_uid=page.canvas_count)
    return page.visit


def on_canvas_action(action):
    visit = state().visit
    if visit is None:
        return
    sync_canvas(visit)
    edit = visit.edit
    try:
        if action == "save":
            save_visit(visit)
        elif action == "delete":
            Experiment(visit.experiment_path).delete_mask(edit.pool, edit.frame)
            state().visit = None
            st.toast(f"Deleted the mask of pool {edit.pool}, frame {edit.frame}.",
                     icon=":material/delete:")
        else:
            getattr(edit, action)()
    except BlastoError as exc:
        state().error = str(exc)


# -- step 3: draw: where to go ----------------------------------------------------------------
def jump(pool, frame):
    page = state()
    if page.nav is not None:
        page.nav.pool, page.nav.frame = int(pool), int(frame)
    page.notice = None


def pick_pool(pool, experiment):
    """A new pool opens at its next frame to annotate."""
    jump(pool, plan.next_frame(experiment, pool) or 0)


def on_progress_select(experiment):
    rows = (ss.get(Keys.PROGRESS) or {}).get("selection", {}).get("rows", [])
    if not rows:
        return
    row = plan.progress_rows(experiment)[rows[0]]
    frame = row.next_frame
    if frame is None:
        frame = (plan.frames_to_annotate(experiment, row.pool) or [0])[0]
    jump(row.pool, frame)


def frame_label(frame, *, annotated, listed, interval):
    status = "done" if frame in annotated else ("to do" if frame in listed else "not on the list")
    when = f" ({clock(frame * interval)})" if interval else ""
    return f"Frame {frame}{when} · {status}"


def first_nav(experiment, pools) -> Nav:
    """Where the Draw step opens: a link may name ``pool`` and ``frame``."""
    wanted = {"pool": pools[0], "frame": None}
    for name in ("pool", "frame"):
        try:
            wanted[name] = int(st.query_params.get(name))
        except (TypeError, ValueError):
            pass
    return Nav(experiment=experiment.name, **wanted)


def picker(label, options, value, *, key, on_pick, args=(), format_func=str, help=None):
    """A select box showing ``value``, whose labels may change (progress counts).

    The value lives in the page state (buttons and the progress table change it too), and
    Streamlit matches a select box's value by its label, so the widget is made anew (new key)
    whenever the value or the labels change.
    """
    labels = [format_func(o) for o in options]
    base, key = key, f"{key}_{hashlib.md5(repr((value, labels)).encode()).hexdigest()[:10]}"
    ss[f"{base}_current"] = key

    def picked():
        # The browser may still report a change of the select box this one replaced: only
        # the current one moves the user.
        if ss.get(f"{base}_current") == key:
            on_pick(ss[key], *args)

    return st.selectbox(label, options, index=options.index(value), key=key,
                        format_func=format_func, help=help, on_change=picked)


def navigation(experiment, pools, n_frames, progress):
    """Pool and frame pickers with previous/next; returns (pool, frame, frames on the list).
    ``progress``: :func:`blasto.annotate.plan.progress_rows` of this run."""
    interval = experiment.manifest.frame_interval_s
    by_pool = {r.pool: r for r in progress}
    page = state()
    if page.nav is None or page.nav.experiment != experiment.name:
        page.nav = first_nav(experiment, pools)
    nav = page.nav
    if nav.pool not in pools:
        nav.pool, nav.frame = pools[0], None
    pool = picker(
        "Pool", pools, nav.pool, key="anno_pool", on_pick=pick_pool, args=(experiment,),
        format_func=lambda p: (f"Pool {p} · {by_pool[p].side or '-'} · "
                               f"{by_pool[p].annotated} of {by_pool[p].to_annotate} done"))
    listed = plan.frames_to_annotate(experiment, pool, n_frames=n_frames)
    annotated = experiment.annotated_frames(pool)
    if not isinstance(nav.frame, int) or not 0 <= nav.frame < n_frames:
        nav.frame = by_pool[pool].next_frame or 0
    options = sorted(set(listed) | set(annotated) | {nav.frame})
    frame = picker(
        "Frame", options, nav.frame, key="anno_frame", on_pick=lambda f: jump(pool, f),
        format_func=lambda f: frame_label(f, annotated=annotated, listed=listed, interval=interval),
        help="Frames on the list to annotate (every Nth, plus those you add) and frames with a "
             "mask. Open any other frame under 'Frames to annotate' below.")
    position = options.index(frame)
    back, forward = st.columns(2)
    back.button("Previous", icon=":material/chevron_left:", width="stretch",
                disabled=position == 0, on_click=jump, args=(pool, options[max(position - 1, 0)]))
    forward.button("Next", icon=":material/chevron_right:", width="stretch",
                   disabled=position == len(options) - 1, on_click=jump,
                   args=(pool, options[min(position + 1, len(options) - 1)]))
    return pool, frame, listed


# -- step 3: draw: the page ---------------------------------------------------------------------
@dataclass(frozen=True)
class Tools:
    tool: str
    mode: str
    brush: int
    opacity: float
    stretch: bool


def tools() -> Tools:
    tool = st.radio("Tool", strokes.TOOLS, horizontal=True, key="anno_tool",
                    format_func=TOOL_LABELS.get)
    mode = st.radio("Paint", strokes.MODES, horizontal=True, key="anno_mode",
                    format_func=MODE_LABELS.get,
                    help="Erase paints background: it removes cell wherever you draw, with any "
                         "tool.")
    brush = st.slider("Brush size (screen pixels)", 4, 80, 24, 2, key="anno_brush",
                      disabled=tool != "brush")
    opacity = st.slider("Mask opacity", 0.0, 1.0, 0.35, 0.05, key="anno_opacity")
    stretch = st.checkbox("Stretch contrast", value=True, key="anno_stretch",
                          help="Spread the gray levels of the frame so faint edges show.")
    return Tools(tool, mode, brush, opacity, stretch)


def canvas(experiment, visit: Visit, chosen: Tools):
    """The enlarged frame with the mask overlay, the drawing canvas and its buttons."""
    # Imported here: the component raises when imported outside `streamlit run` (a test that
    # imports this page would fail).
    from streamlit_drawable_canvas import st_canvas

    edit = visit.edit
    interval = experiment.manifest.frame_interval_s
    frames = experiment.read_pool_movie(edit.pool)
    background = overlay(frames[edit.frame], edit.mask, size=edit.canvas_size[0],
                         opacity=chosen.opacity, stretch=chosen.stretch)
    side = experiment.manifest.split.side_of(edit.pool) or "no side"
    when = f" · {clock(edit.frame * interval)}" if interval else ""
    st.markdown(f"**Pool {edit.pool} · frame {edit.frame}**{when} · {side}")
    st_canvas(background_image=Image.fromarray(background), initial_drawing=edit.initial_drawing,
              width=edit.canvas_size[0], height=edit.canvas_size[1], key=canvas_key(visit),
              update_streamlit=True,
              **strokes.tool_style(chosen.tool, mode=chosen.mode, brush_size=chosen.brush))
    undo, redo, clear, save = st.columns([1, 1, 1, 1.4])
    undo.button("Undo", icon=":material/undo:", width="stretch", disabled=not edit.can_undo,
                on_click=on_canvas_action, args=("undo",))
    redo.button("Redo", icon=":material/redo:", width="stretch", disabled=not edit.can_redo,
                on_click=on_canvas_action, args=("redo",))
    clear.button("Clear", icon=":material/delete_sweep:", width="stretch",
                 on_click=on_canvas_action, args=("clear",),
                 help="Start this frame's mask from empty (Undo brings it back).")
    save.button("Save mask", icon=":material/save:", type="primary", width="stretch",
                key="anno_save", on_click=on_canvas_action, args=("save",),
                disabled=not edit.dirty)
    if state().error:
        st.error(state().error)
        state().error = None
    hint = TOOL_HELP[chosen.tool]
    if edit.dirty:
        st.caption(":orange[:material/edit: Unsaved strokes], saved automatically when you go "
                   "to another frame. " + hint)
    elif edit.had_mask:
        st.caption(":green[:material/check_circle: Saved.] " + hint)
    else:
        st.caption("No mask yet. " + hint)


def frame_list(experiment, edit, listed, n_frames):
    """Which frames to annotate: every Nth, single frames on or off the list, any frame."""
    pool, frame = edit.pool, edit.frame
    with st.expander("Frames to annotate"):
        every = st.number_input("Annotate every Nth frame (all pools)", 1, max(n_frames, 1),
                                experiment.manifest.annotation.every, key="anno_every")
        if every != experiment.manifest.annotation.every:
            plan.set_every(experiment, every)
            st.rerun()
        if frame in listed:
            if st.button(f"Take frame {frame} off the list", key="anno_unlist"):
                plan.remove_frame(experiment, pool, frame)
                st.rerun()
        elif st.button(f"Put frame {frame} on the list", key="anno_list"):
            plan.add_frame(experiment, pool, frame)
            st.rerun()
        st.number_input("Open any frame of this pool", 0, n_frames - 1, frame, key=Keys.OTHER_FRAME)
        # Read the number when clicked: a number typed just before the click counts.
        st.button("Open", key="anno_open", on_click=lambda: jump(pool, ss[Keys.OTHER_FRAME]))
        if edit.had_mask:
            st.button(f"Delete the saved mask of frame {frame}", key="anno_delete",
                      icon=":material/delete:", on_click=on_canvas_action, args=("delete",))


def step_draw(experiment):
    pools = experiment.pool_numbers
    if not pools:
        imported = experiment.summary().imported_pairs
        st.info("Crop a plate first (step 1), or import the lab's masks (step 4)."
                + (f" This experiment holds {imported} imported pairs; they train as they are."
                   if imported else ""))
        return
    n_frames = experiment.n_frames(pools[0])
    size = experiment.size
    zoom = max(2, -(-512 // size))  # at least 2x: a 256 px frame is too small to trace
    canvas_size = (size * zoom, size * zoom)
    # Save what was drawn on the frame the user just left before counting progress.
    nav = state().nav
    if nav is not None:
        leave_visit_unless(experiment, nav.pool, nav.frame)
    # Counted once per run: what changes the masks or the lists (saving, adding a frame) runs
    # in a button callback before this, or reruns the page.
    progress = plan.progress_rows(experiment, n_frames=n_frames)

    picture, controls = st.columns([3, 2], gap="medium")
    with controls:
        pool, frame, listed = navigation(experiment, pools, n_frames, progress)
    visit = current_visit(experiment, pool, frame, canvas_size)
    with controls:
        chosen = tools()
    with picture:
        canvas(experiment, visit, chosen)
    with controls:
        frame_list(experiment, visit.edit, listed, n_frames)

    st.markdown("**Progress** · select a row to jump to that pool's next frame to annotate")
    st.dataframe(plan.progress_table(progress), hide_index=True, key=Keys.PROGRESS,
                 on_select=lambda: on_progress_select(experiment), selection_mode="single-row",
                 width="stretch")
