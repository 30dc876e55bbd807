"""Annotate: crop a plate into pools, clean the background, draw masks, split and exchange.

A thin page: the work is done by blasto.prepare (grid, crop, clean, split), blasto.annotate
(strokes -> masks, the editing visit of a frame, which frames to annotate, the lab's folders)
and blasto.movies.library (movies on the server).

Unsaved strokes are saved automatically when the user moves to another frame, pool, step or
experiment (never lost silently); the Save button saves without moving.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

from blasto.annotate import labdata, labexport, plan, strokes
from blasto.annotate.edit import FrameEdit, overlay
from blasto.app.common import (
    choose_experiment, clock, page_setup, page_state, pick_experiment, report_errors,
)
from blasto.errors import BlastoError
from blasto.movies import library
from blasto.movies import open_movie
from blasto.prepare.clean import DEFAULT_TOLERANCE, clean_experiment, fill_value_for, preview_clean
from blasto.prepare.crop import crop_plate
from blasto.prepare.grid import draw_grid, suggest_grid
from blasto.prepare.split import plate_map
from blasto.store.experiment import Experiment, create_experiment, list_experiments, validate_name
from blasto.store.manifest import SIDES, Grid
from blasto.store.roots import data_root

STEPS = ("Crop", "Clean", "Draw", "Split & lab data")
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


# -- what the page keeps between reruns -----------------------------------------------------------
class Keys:
    """Widget keys of this page that its code reads or sets (the others are private to one
    widget)."""

    STEP = "anno_step"
    CROP_MARGINS = ("crop_top", "crop_left", "crop_bottom", "crop_right")
    CROP_GRID_FOR = "crop_grid_for"
    PROGRESS = "anno_progress"
    OTHER_FRAME = "anno_other"


@dataclass
class Nav:
    """Where the Draw step is: the experiment, pool and frame shown."""

    experiment: str
    pool: int
    frame: int | None = None


@dataclass
class Visit:
    """The frame being edited: its edit, the experiment folder it belongs to, and the canvas
    made for it (a new canvas per visit, and per undo/redo/clear: see :func:`canvas_key`)."""

    edit: FrameEdit
    experiment_path: str
    canvas_uid: int


@dataclass
class PageState:
    """Everything this page keeps that is not a widget value."""

    nav: Nav | None = None
    visit: Visit | None = None
    canvas_count: int = 0
    #: (step it is shown on, text): a step's result, shown while the user is on the next step.
    notice: tuple[str, str] | None = None
    error: str | None = None
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


# -- step 1: crop -------------------------------------------------------------------------------
def step_crop(experiment):
    st.subheader("1 · Crop the plate into pools")
    source = st.radio("Movie", ["A movie already under data/", "Upload a movie"],
                      horizontal=True, key="crop_source")
    path = None
    if source == "Upload a movie":
        upload = st.file_uploader(
            "Plate movie (GIF, multi-page TIFF, MP4/AVI)",
            type=[s.lstrip(".") for s in library.MOVIE_SUFFIXES], key="crop_upload")
        if upload is not None:
            with report_errors():
                path = library.save_upload(upload.name, upload.getvalue(), root=data_root())
    else:
        root = data_root()
        movies = library.movies_under(root)
        if experiment is not None and experiment.manifest.source:
            cropped_from = Path(experiment.manifest.source.path)
            if cropped_from.exists() and cropped_from not in movies:
                movies.insert(0, cropped_from)
        if not movies:
            st.info(f"No movies under {root}: upload one, or copy it there.")
        else:
            path = st.selectbox(
                "Movie", movies, key="crop_movie",
                format_func=lambda p: str(p.relative_to(root)) if p.is_relative_to(root) else str(p))
    if path is None:
        return
    with report_errors():
        crop_controls(Path(path))


@st.cache_data(max_entries=16, show_spinner=False)
def movie_info(path: str, mtime: float) -> dict:
    with open_movie(path) as movie:
        return {"n_frames": movie.n_frames, "height": movie.height, "width": movie.width,
                "interval": movie.frame_interval_s,
                "pixel_size_um": getattr(movie, "pixel_size_um", None)}


@st.cache_data(max_entries=8, show_spinner=False)
def movie_frame(path: str, mtime: float, index: int) -> np.ndarray:
    with open_movie(path) as movie:
        return movie.frame(index)


def crop_controls(path: Path):
    mtime = path.stat().st_mtime
    info = movie_info(str(path), mtime)
    interval = f", one every {clock(info['interval'])}" if info["interval"] else ""
    st.caption(f"{path.name}: {info['n_frames']} frames of {info['width']}x{info['height']} "
               f"pixels{interval}.")
    left, right = st.columns([3, 2])
    with right:
        index = st.slider("Preview frame", 0, info["n_frames"] - 1, 0, key="crop_frame")
        frame = movie_frame(str(path), mtime, index)
        rows = int(st.number_input("Rows of pools", 1, 12, 4, key="crop_rows"))
        cols = int(st.number_input("Columns of pools", 1, 12, 4, key="crop_cols"))
        if ss.get(Keys.CROP_GRID_FOR) != (str(path), rows, cols) or Keys.CROP_MARGINS[0] not in ss:
            # A new movie or grid shape (or margins Streamlit forgot while hidden): suggest.
            suggest(frame, rows, cols, path)
        st.button("Suggest the grid from the image", icon=":material/auto_fix_high:",
                  on_click=suggest, args=(frame, rows, cols, path))
        st.caption("Outer margins of the grid (source pixels); the cuts are evenly spaced.")
        a, b = st.columns(2)
        top = a.number_input("Top", 0, info["height"], key="crop_top")
        bottom = b.number_input("Bottom", 0, info["height"], key="crop_bottom")
        left_edge = a.number_input("Left", 0, info["width"], key="crop_left")
        right_edge = b.number_input("Right", 0, info["width"], key="crop_right")
        grid = Grid(rows, cols, int(top), int(left_edge), int(bottom), int(right_edge))
        size = int(st.number_input("Working size of each pool (pixels)", 32, 1024, 256, 32,
                                   key="crop_size"))
        stated = info["pixel_size_um"]
        pixel_um = st.number_input(
            "Pixel size of the movie (µm, 0 if unknown)", 0.0, 100.0, float(stated or 0.0), 0.1,
            format="%.3f", key=f"crop_pixel_{path.name}",
            help="Lets the Review page give areas in µm² as well."
                 + (f" The movie file says {stated:g} µm." if stated else ""))
        name = st.text_input("New experiment name", value=path.stem, key="crop_name")
    with left:
        grid.check(height=info["height"], width=info["width"], source=str(path))
        st.image(draw_grid(frame, grid), caption="Each yellow box becomes one pool movie, "
                 "numbered row by row.", output_format="PNG")
    with right:
        name = validate_name(name)
        overwrite = False
        if name in list_experiments():
            st.warning(f"An experiment called {name!r} exists: cropping replaces its pool "
                       "movies.")
            overwrite = st.checkbox("Also delete its hand masks (they would no longer match)",
                                    key="crop_overwrite")
        if st.button("Crop into pools", icon=":material/content_cut:", type="primary",
                     key="crop_go"):
            experiment = create_experiment(name, exist_ok=True)
            bar = st.progress(0.0, text="Cropping…")
            crop_plate(path, experiment, grid=grid, size=size, overwrite=overwrite,
                       pixel_size_um=pixel_um or None,
                       progress=lambda done, total: bar.progress(
                           done / total, text=f"Cropping frame {done} of {total}"))
            go_to(experiment=name, step="Clean")
            state().notice = ("Clean", f"Cropped {len(grid.boxes())} pools into experiment "
                                       f"{name!r}. Next: clean the background.")
            st.rerun()


def suggest(frame, rows, cols, path):
    try:
        grid = suggest_grid(frame, rows=rows, cols=cols)
    except BlastoError:
        grid = Grid(rows, cols, 0, 0, frame.shape[0], frame.shape[1])
    ss.update(dict(zip(Keys.CROP_MARGINS, (grid.top, grid.left, grid.bottom, grid.right))))
    ss[Keys.CROP_GRID_FOR] = (str(path), rows, cols)


# -- step 2: clean ------------------------------------------------------------------------------
def step_clean(experiment):
    st.subheader("2 · Clean the background")
    st.caption("The dark plate around each round pool is flood-filled, from the corners, with "
               "the dataset's mean gray, so the network learns cell versus pool, not pool "
               "versus plate. The uncleaned crop is kept: you can redo this any time.")
    if not experiment.pool_numbers:
        st.info("Crop a plate first (step 1).")
        return
    background = experiment.manifest.background
    if background.cleaned:
        st.success(f"Cleaned with tolerance {background.tolerance} "
                   f"(filled with gray {background.fill_value}).")
    else:
        st.info("Not cleaned yet.")
    controls, before_col, after_col = st.columns([2, 2, 2])
    with controls:
        tolerance = st.slider("Tolerance (gray levels)", 0, 120,
                              int(background.tolerance or DEFAULT_TOLERANCE), key="clean_tolerance",
                              help="How far from the corner's gray a pixel may be and still be "
                                   "filled. Too high and the flood leaks into the pool.")
        pool = st.selectbox("Pool", experiment.pool_numbers, key="clean_pool",
                            format_func=lambda p: f"Pool {p}")
        frame = st.slider("Frame", 0, experiment.n_frames(pool) - 1, 0, key="clean_frame")
    before, after = preview_clean(experiment, pool, frame, tolerance=tolerance)
    before_col.image(before, caption="Before", output_format="PNG", width="stretch")
    after_col.image(after, caption=f"After (gray {fill_value_for(experiment, tolerance=tolerance)})",
                    output_format="PNG", width="stretch")
    with controls:
        if st.button("Clean every frame of every pool", icon=":material/mop:", type="primary",
                     key="clean_go"):
            bar = st.progress(0.0, text="Cleaning…")
            clean_experiment(experiment, tolerance=tolerance, progress=lambda done, total:
                             bar.progress(done / total, text=f"Cleaning frame {done} of {total}"))
            state().notice = ("Draw", f"Cleaned every pool with tolerance {tolerance}. "
                                      "Next: draw masks.")
            go_to(step="Draw")
            st.rerun()


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


# -- step 4: split and the lab's folders ---------------------------------------------------------
def step_split(experiment):
    st.subheader("4 · Train / validation split and the lab's folders")
    pools = experiment.pool_numbers
    split = experiment.manifest.split
    if pools:
        st.caption("Split by pool, never by frame: all frames of a pool are on one side.")
        a, b = st.columns(2)
        train = a.multiselect("Train pools", pools, default=[p for p in split.train if p in pools],
                              key="split_train")
        validation = b.multiselect("Validation pools", pools,
                                   default=[p for p in split.validation if p in pools],
                                   key="split_validation")
        if st.button("Save the split", key="split_save"):
            with report_errors():
                experiment.set_split(train, validation)
                st.success(f"Saved: {len(train)} train and {len(validation)} validation pools.")
        grid = experiment.manifest.grid
        st.markdown(plate_map(experiment.manifest.split, pools, cols=grid.cols if grid else 4))
    imported = st.empty()  # filled last: an import below changes the counts
    new_experiment_form()
    left, right = st.columns(2)
    with left:
        import_section(experiment)
    with right:
        export_section(experiment)
    counts = {side: len(experiment.imported_pairs(side)) for side in SIDES}
    imported.markdown(f"**Imported pairs**: {counts['train']} train, {counts['validation']} "
                      "validation.")


def import_section(experiment):
    st.markdown("##### Import the lab's masks")
    st.caption("A folder with train/ and validation/: names with **x** are images, names "
               "with **y** their masks (black = cell), paired in sorted order. Pairs already "
               "in the experiment are skipped.")
    replace = st.checkbox("Replace pairs imported earlier", key="import_replace")
    folder = st.text_input("Folder on this computer", key="import_folder")
    if st.button("Import the folder", key="import_go"):
        with report_errors():
            if not folder.strip():
                raise BlastoError("Type the folder's path first (the folder holding train/ "
                                  "and validation/).")
            show_report(labdata.import_lab_folder(experiment, folder.strip(), replace=replace))
    upload = st.file_uploader("…or a zip of that folder", type=["zip"], key="import_zip")
    if upload is not None and st.button("Import the zip", key="import_zip_go"):
        with report_errors():
            show_report(labdata.import_lab_zip(experiment, upload.getvalue(), replace=replace))


def export_section(experiment):
    st.markdown("##### Export in the lab's layout")
    st.caption("Cleaned frame as x, mask as y, by each pool's side; imported pairs too.")
    target = st.text_input("Empty folder to write into", key="export_folder")
    force = st.checkbox("Replace train/ and validation/ if the folder has them", key="export_force")
    if st.button("Export to the folder", key="export_go"):
        with report_errors():
            if not target.strip():
                raise BlastoError("Type the path of an empty folder to export into first.")
            counts = labexport.export_lab_folder(experiment, target.strip(), force=force)
            st.success(f"Exported {counts['train']} train and {counts['validation']} "
                       f"validation pairs to {target.strip()}.")
            left_out = labexport.unsplit_pools(experiment)
            if left_out:
                st.warning("Not exported, on neither side of the split: pool(s) "
                           f"{', '.join(map(str, left_out))}.")
    st.download_button("Download as a zip", icon=":material/download:",
                       data=lambda: labexport.export_lab_zip(experiment),
                       file_name=f"{experiment.name}-masks.zip", mime="application/zip",
                       key="export_zip", on_click="ignore")


def new_experiment_form():
    """An empty experiment, to import the lab's masks into without cropping a movie."""
    with st.expander("New empty experiment (for the lab's masks only)"):
        name = st.text_input("Name", key="new_name")
        size = int(st.number_input("Working size (pixels)", 32, 1024, 256, 32, key="new_size"))
        if st.button("Create", key="new_go"):
            with report_errors():
                experiment = create_experiment(validate_name(name), size=size)
                go_to(experiment=experiment.name)
                st.rerun()


def show_report(report):
    st.success(report.summary())
    for warning in report.warnings:
        st.warning(warning)


# -- the page ---------------------------------------------------------------------------------------
def first_step(experiment) -> str:
    """The step a fresh page opens on: the one a link names (``?step=draw``), else Draw when
    there are pools, else Crop."""
    wanted = st.query_params.get("step", "")
    matches = [s for s in STEPS if s.lower().startswith(wanted.lower())] if wanted else []
    has_pools = experiment is not None and experiment.pool_numbers
    return matches[0] if matches else ("Draw" if has_pools else "Crop")


def main():
    page_setup("Annotate")
    apply_pending()
    st.title("Annotate")
    experiment = pick_experiment()
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
        leave_visit(experiment)  # autosave strokes left on the canvas
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
    main()
