"""Annotate: crop a plate into pools, clean the background, draw masks, split and exchange.

A thin page: the work is done by blasto.prepare.grid / crop / background (plate), blasto.annotate.strokes
(drawing -> masks, frames to annotate, progress) and blasto.annotate.labdata (the lab's folders).

Unsaved strokes are saved automatically when the user moves to another frame, pool, step or
experiment (never lost silently); the Save button saves without moving.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image, ImageDraw
from streamlit_drawable_canvas import st_canvas

from blasto.annotate import strokes as annotate

from blasto.store import atomic

from blasto.annotate import labdata

from blasto.app import common as ui
from blasto.prepare.clean import DEFAULT_TOLERANCE, clean_experiment, fill_value_for, preview_clean
from blasto.prepare.crop import crop_plate
from blasto.errors import BlastoError, MovieError
from blasto.store.experiment import Experiment, create_experiment, list_experiments, validate_name
from blasto.prepare.grid import Grid, suggest_grid
from blasto.movies import VIDEO_EXTENSIONS, open_movie
from blasto.store.roots import data_root

STEPS = ("Crop", "Clean", "Draw", "Split & lab data")
MOVIE_SUFFIXES = (".gif", ".tif", ".tiff") + VIDEO_EXTENSIONS
TOOL_LABELS = {"outline": ":material/gesture: Outline", "brush": ":material/brush: Brush",
               "polygon": ":material/pentagon: Polygon"}
MODE_LABELS = {"add": ":material/add_circle: Add cell", "erase": ":material/ink_eraser: Erase"}
ss = st.session_state


# -- small helpers ------------------------------------------------------------------------------
def go_to(**values):
    """Set widget values for the next run (from a callback or before a rerun)."""
    ss.setdefault("_pending", {}).update(values)


def apply_pending():
    for key, value in ss.pop("_pending", {}).items():
        if key == "experiment":  # what ui.pick_experiment's select box shows and follows
            ss["experiment_select"] = value
            ss[ui.CURRENT] = value
            st.query_params["experiment"] = value
        else:
            ss[key] = value


def duration(seconds) -> str:
    seconds = int(round(seconds))
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


# -- step 1: crop -------------------------------------------------------------------------------
def movies_under_data() -> list[Path]:
    """Movie files under data/ (uploads and movies copied there), not the experiments' pools."""
    root = data_root()
    found = []
    for path in sorted(root.rglob("*")) if root.is_dir() else []:
        relative = path.relative_to(root)
        if len(relative.parts) > 3 or any(p.startswith(".") for p in relative.parts):
            continue
        if (root / relative.parts[0] / "manifest.json").exists():
            continue  # inside an experiment
        if path.is_file() and path.suffix.lower() in MOVIE_SUFFIXES:
            found.append(path)
    return found


def safe_file_name(name: str) -> str:
    stem, suffix = Path(name).stem, Path(name).suffix.lower()
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._") or "movie"
    return f"{stem[:60]}{suffix}"


def save_upload(upload) -> Path:
    """Keep an uploaded movie under data/uploads/ (atomically); refuse what is not a movie."""
    target = data_root() / "uploads" / safe_file_name(upload.name)
    if not (target.exists() and target.stat().st_size == upload.size):
        atomic.write_bytes(target, upload.getvalue())
    try:
        with open_movie(target):
            pass
    except MovieError as exc:
        target.unlink(missing_ok=True)
        raise MovieError(f"The upload {upload.name!r} cannot be used: "
                         f"{str(exc).split(': ', 1)[-1]}") from None
    return target


@st.cache_data(max_entries=16, show_spinner=False)
def movie_info(path: str, mtime: float) -> dict:
    with open_movie(path) as movie:
        return {"n_frames": movie.n_frames, "height": movie.height, "width": movie.width,
                "interval": movie.frame_interval_s}


@st.cache_data(max_entries=8, show_spinner=False)
def movie_frame(path: str, mtime: float, index: int) -> np.ndarray:
    with open_movie(path) as movie:
        return movie.frame(index)


def grid_preview(frame: np.ndarray, grid: Grid, *, width: int = 720) -> Image.Image:
    """The frame with the grid's cuts and pool numbers drawn on it, scaled to ``width``."""
    scale = min(1.0, width / frame.shape[1])
    image = Image.fromarray(frame).convert("RGB")
    image = image.resize((round(frame.shape[1] * scale), round(frame.shape[0] * scale)))
    draw = ImageDraw.Draw(image)
    line = max(2, round(3 * scale))
    for number, (top, left, bottom, right) in enumerate(grid.boxes(), start=1):
        box = [left * scale, top * scale, right * scale - 1, bottom * scale - 1]
        draw.rectangle(box, outline=(255, 200, 0), width=line)
        draw.text((box[0] + 6, box[1] + 4), str(number), fill=(255, 230, 0),
                  font_size=max(12, round(28 * scale)))
    return image


def step_crop(experiment):
    st.subheader("1 · Crop the plate into pools")
    source = st.radio("Movie", ["A movie already under data/", "Upload a movie"],
                      horizontal=True, key="crop_source")
    path = None
    if source == "Upload a movie":
        upload = st.file_uploader(
            "Plate movie (GIF, multi-page TIFF, MP4/AVI)",
            type=[s.lstrip(".") for s in MOVIE_SUFFIXES], key="crop_upload")
        if upload is not None:
            with ui.report_errors():
                path = save_upload(upload)
    else:
        movies = movies_under_data()
        if experiment is not None and (experiment.manifest.get("source") or {}).get("path"):
            cropped_from = Path(experiment.manifest["source"]["path"])
            if cropped_from.exists() and cropped_from not in movies:
                movies.insert(0, cropped_from)
        if not movies:
            st.info(f"No movies under {data_root()}: upload one, or copy it there.")
        else:
            root = data_root()
            path = st.selectbox(
                "Movie", movies, key="crop_movie",
                format_func=lambda p: str(p.relative_to(root)) if p.is_relative_to(root) else str(p))
    if path is None:
        return
    with ui.report_errors():
        crop_controls(Path(path))


def crop_controls(path: Path):
    mtime = path.stat().st_mtime
    info = movie_info(str(path), mtime)
    interval = f", one every {duration(info['interval'])}" if info["interval"] else ""
    st.caption(f"{path.name}: {info['n_frames']} frames of {info['width']}x{info['height']} "
               f"pixels{interval}.")
    left, right = st.columns([3, 2])
    with right:
        index = st.slider("Preview frame", 0, info["n_frames"] - 1, 0, key="crop_frame")
        frame = movie_frame(str(path), mtime, index)
        rows = int(st.number_input("Rows of pools", 1, 12, 4, key="crop_rows"))
        cols = int(st.number_input("Columns of pools", 1, 12, 4, key="crop_cols"))
        if ss.get("crop_grid_for") != (str(path), rows, cols) or "crop_top" not in ss:
            # A new movie or grid shape (or margins Streamlit forgot while hidden): suggest.
            suggest(frame, rows, cols, path)
        st.button("Suggest the grid from the image", icon=":material/auto_fix_high:",
                  on_click=suggest,
                  args=(frame, rows, cols, path))
        st.caption("Outer margins of the grid (source pixels); the cuts are evenly spaced.")
        a, b = st.columns(2)
        top = a.number_input("Top", 0, info["height"], key="crop_top")
        bottom = b.number_input("Bottom", 0, info["height"], key="crop_bottom")
        left_edge = a.number_input("Left", 0, info["width"], key="crop_left")
        right_edge = b.number_input("Right", 0, info["width"], key="crop_right")
        grid = Grid(rows, cols, int(top), int(left_edge), int(bottom), int(right_edge))
        size = int(st.number_input("Working size of each pool (pixels)", 32, 1024, 256, 32,
                                   key="crop_size"))
        pixel_um = st.number_input("Pixel size of the movie (µm, 0 if unknown)", 0.0, 100.0,
                                   0.0, 0.1, format="%.3f", key="crop_pixel",
                                   help="Lets the Review page give areas in µm² as well.")
        name = st.text_input("New experiment name", value=path.stem, key="crop_name")
    with left:
        grid.check(height=info["height"], width=info["width"], source=str(path))
        st.image(grid_preview(frame, grid), caption="Each yellow box becomes one pool movie, "
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
                       progress=lambda done, total: bar.progress(
                           done / total, text=f"Cropping frame {done} of {total}"))
            if pixel_um:
                experiment.manifest["pixel_size_um"] = float(pixel_um)
                experiment.save_manifest()
            go_to(experiment=name, anno_step="Clean")
            ss["anno_notice"] = ("Clean", f"Cropped {len(grid.boxes())} pools into experiment "
                                          f"{name!r}. Next: clean the background.")
            st.rerun()


def suggest(frame, rows, cols, path):
    try:
        grid = suggest_grid(frame, rows=rows, cols=cols)
    except BlastoError:
        grid = Grid(rows, cols, 0, 0, frame.shape[0], frame.shape[1])
    ss.update(crop_top=grid.top, crop_left=grid.left, crop_bottom=grid.bottom,
              crop_right=grid.right, crop_grid_for=(str(path), rows, cols))


# -- step 2: clean ------------------------------------------------------------------------------
def step_clean(experiment):
    st.subheader("2 · Clean the background")
    st.caption("The dark plate around each round pool is flood-filled, from the corners, with "
               "the dataset's mean gray, so the network learns cell versus pool, not pool "
               "versus plate. The uncleaned crop is kept: you can redo this any time.")
    if not experiment.pool_numbers:
        st.info("Crop a plate first (step 1).")
        return
    background = experiment.manifest["background"]
    if background.get("cleaned"):
        st.success(f"Cleaned with tolerance {background['tolerance']} "
                   f"(filled with gray {background['fill_value']}).")
    else:
        st.info("Not cleaned yet.")
    controls, before_col, after_col = st.columns([2, 2, 2])
    with controls:
        tolerance = st.slider("Tolerance (gray levels)", 0, 120,
                              int(background.get("tolerance") or DEFAULT_TOLERANCE),
                              key="clean_tolerance",
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
            ss["anno_notice"] = ("Draw", f"Cleaned every pool with tolerance {tolerance}. "
                                         "Next: draw masks.")
            go_to(anno_step="Draw")
            st.rerun()


# -- step 3: draw -------------------------------------------------------------------------------
def canvas_key(state) -> str:
    return f"anno_canvas_{state['uid']}_{state['edit'].revision}"


def sync_canvas(state) -> None:
    """Take the strokes the canvas reported since the last run (before anything acts on them)."""
    value = ss.get(canvas_key(state))
    try:
        objects = value["drawing"]["raw"]["objects"]
    except (TypeError, KeyError):
        return
    state["edit"].update(objects)


def save_edit(state, *, moving=False, experiment=None) -> None:
    edit = state["edit"]
    if experiment is None or str(experiment.path) != state["path"]:
        experiment = Experiment(state["path"])
    edit.save(experiment)
    where = f"pool {edit.pool}, frame {edit.frame}"
    st.toast(f"Saved {where}" + (" before moving on." if moving else "."), icon=":material/save:")


def leave_edit(experiment=None) -> None:
    """Autosave the frame being edited (if it has unsaved strokes) and forget it."""
    state = ss.get("anno_edit")
    if state is not None:
        sync_canvas(state)
        if state["edit"].dirty:
            save_edit(state, moving=True, experiment=experiment)
    ss.pop("anno_edit", None)


def leave_edit_unless(experiment, pool, frame) -> None:
    """Autosave and forget the edit if it is not of this frame (the user moved on)."""
    state = ss.get("anno_edit")
    if state is not None:
        edit = state["edit"]
        if (state["path"], edit.pool, edit.frame) != (str(experiment.path), pool, frame):
            leave_edit(experiment)


def current_edit(experiment, pool, frame, canvas_size):
    leave_edit_unless(experiment, pool, frame)
    state = ss.get("anno_edit")
    if state is not None:
        sync_canvas(state)
    else:
        ss["anno_uid"] = ss.get("anno_uid", 0) + 1
        state = {"path": str(experiment.path), "uid": ss["anno_uid"],
                 "edit": annotate.FrameEdit.open(experiment, pool, frame, canvas_size=canvas_size)}
        ss["anno_edit"] = state
    return state


def on_canvas_action(action):
    state = ss.get("anno_edit")
    if state is None:
        return
    sync_canvas(state)
    edit = state["edit"]
    try:
        if action == "save":
            save_edit(state)
        elif action == "delete":
            experiment = Experiment(state["path"])
            experiment.delete_mask(edit.pool, edit.frame)
            ss.pop("anno_edit", None)
            st.toast(f"Deleted the mask of pool {edit.pool}, frame {edit.frame}.",
                     icon=":material/delete:")
        else:
            getattr(edit, action)()
    except BlastoError as exc:
        ss["anno_error"] = str(exc)


def jump(pool, frame):
    ss.setdefault("anno_nav", {}).update(pool=int(pool), frame=int(frame))
    ss.pop("anno_notice", None)


def pick_pool(pool, experiment):
    """A new pool opens at its next frame to annotate."""
    jump(pool, annotate.next_frame(experiment, pool) or 0)


def on_progress_select(experiment):
    selection = ss.get("anno_progress")
    rows = (selection or {}).get("selection", {}).get("rows", [])
    if not rows:
        return
    row = annotate.progress_rows(experiment)[rows[0]]
    pool = row["pool"]
    frame = row["next frame"]
    if frame is None:
        frame = (annotate.frames_to_annotate(experiment, pool) or [0])[0]
    jump(pool, frame)


def frame_label(frame, *, annotated, listed, interval):
    state = "done" if frame in annotated else ("to do" if frame in listed else "not on the list")
    when = f" ({duration(frame * interval)})" if interval else ""
    return f"Frame {frame}{when} · {state}"


def step_draw(experiment):
    pools = experiment.pool_numbers
    if not pools:
        st.info("Crop a plate first (step 1), or import the lab's masks (step 4).")
        return
    n_frames = experiment.n_frames(pools[0])
    size = experiment.size
    zoom = max(2, -(-512 // size))  # at least 2x: a 256 px frame is too small to trace
    canvas_size = (size * zoom, size * zoom)
    # Save what was drawn on the frame the user just left before counting progress.
    nav = ss.get("anno_nav") or {}
    leave_edit_unless(experiment, nav.get("pool"), nav.get("frame"))
    # Counted once per run: what changes the masks or the lists (saving, adding a frame) runs
    # in a button callback before this, or reruns the page.
    progress = annotate.progress_rows(experiment, n_frames=n_frames)

    picture, controls = st.columns([3, 2], gap="medium")
    with controls:
        pool, frame, listed = navigation(experiment, pools, n_frames, progress)
    edit = current_edit(experiment, pool, frame, canvas_size)["edit"]
    with controls:
        tool, mode, brush, opacity, stretch = tools()
    with picture:
        canvas(experiment, edit, tool=tool, mode=mode, brush=brush, opacity=opacity,
               stretch=stretch)
    with controls:
        frame_list(experiment, edit, listed, n_frames)

    st.markdown("**Progress** · select a row to jump to that pool's next frame to annotate")
    table = annotate.progress_table(experiment, rows=progress)
    table["next frame"] = table["next frame"].astype("string").fillna("all done")
    st.dataframe(table, hide_index=True, key="anno_progress",
                 on_select=lambda: on_progress_select(experiment), selection_mode="single-row",
                 width="stretch")


def navigation(experiment, pools, n_frames, progress):
    """Pool and frame pickers with previous/next; returns (pool, frame, frames on the list).
    ``progress``: :func:`blasto.annotate.strokes.progress_rows` of this run."""
    interval = experiment.manifest.get("frame_interval_s")
    by_pool = {r["pool"]: r for r in progress}
    nav = ss.get("anno_nav")
    if not nav or nav.get("experiment") != experiment.name:
        nav = ss["anno_nav"] = first_frame(experiment, pools)
    if nav["pool"] not in pools:
        nav.update(pool=pools[0], frame=None)
    pool = picker(
        "Pool", pools, nav["pool"], key="anno_pool", on_pick=pick_pool, args=(experiment,),
        format_func=lambda p: (f"Pool {p} · {by_pool[p]['side']} · "
                               f"{by_pool[p]['annotated']} of {by_pool[p]['to annotate']} done"))
    listed = annotate.frames_to_annotate(experiment, pool, n_frames=n_frames)
    annotated = experiment.annotated_frames(pool)
    if not isinstance(nav["frame"], int) or not 0 <= nav["frame"] < n_frames:
        nav["frame"] = by_pool[pool]["next frame"] or 0
    options = sorted(set(listed) | set(annotated) | {nav["frame"]})
    frame = picker(
        "Frame", options, nav["frame"], key="anno_frame", on_pick=lambda f: jump(pool, f),
        format_func=lambda f: frame_label(f, annotated=annotated, listed=listed,
                                          interval=interval),
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


def picker(label, options, value, *, key, on_pick, args=(), format_func=str, help=None):
    """A select box showing ``value``, whose labels may change (progress counts).

    The value lives in ``anno_nav`` (buttons and the progress table change it too), and
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


def first_frame(experiment, pools) -> dict:
    """Where the Draw step opens: a link may name ``pool`` and ``frame``."""
    wanted = {"pool": pools[0], "frame": None}
    for name in ("pool", "frame"):
        try:
            wanted[name] = int(st.query_params.get(name))
        except (TypeError, ValueError):
            pass
    wanted["experiment"] = experiment.name
    return wanted


def tools():
    tool = st.radio("Tool", annotate.TOOLS, horizontal=True, key="anno_tool",
                    format_func=TOOL_LABELS.get)
    mode = st.radio("Paint", annotate.MODES, horizontal=True, key="anno_mode",
                    format_func=MODE_LABELS.get,
                    help="Erase paints background: it removes cell wherever you draw, with any "
                         "tool.")
    brush = st.slider("Brush size (screen pixels)", 4, 80, 24, 2, key="anno_brush",
                      disabled=tool != "brush")
    opacity = st.slider("Mask opacity", 0.0, 1.0, 0.35, 0.05, key="anno_opacity")
    stretch = st.checkbox("Stretch contrast", value=True, key="anno_stretch",
                          help="Spread the gray levels of the frame so faint edges show.")
    return tool, mode, brush, opacity, stretch


def canvas(experiment, edit, *, tool, mode, brush, opacity, stretch):
    """The enlarged frame with the mask overlay, the drawing canvas and its buttons."""
    state = ss["anno_edit"]
    interval = experiment.manifest.get("frame_interval_s")
    frames = experiment.read_pool_movie(edit.pool)
    background = annotate.overlay(frames[edit.frame], edit.mask, size=edit.canvas_size[0],
                                  opacity=opacity, stretch=stretch)
    side = experiment.split_of(edit.pool) or "no side"
    when = f" · {duration(edit.frame * interval)}" if interval else ""
    st.markdown(f"**Pool {edit.pool} · frame {edit.frame}**{when} · {side}")
    st_canvas(background_image=Image.fromarray(background), initial_drawing=edit.initial_drawing,
              width=edit.canvas_size[0], height=edit.canvas_size[1], key=canvas_key(state),
              update_streamlit=True, **annotate.tool_style(tool, mode=mode, brush_size=brush))
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
    if ss.get("anno_error"):
        st.error(ss.pop("anno_error"))
    if edit.dirty:
        st.caption(":orange[:material/edit: Unsaved strokes], saved automatically when you go "
                   "to another frame. " + HELP[tool])
    elif edit.had_mask:
        st.caption(":green[:material/check_circle: Saved.] " + HELP[tool])
    else:
        st.caption("No mask yet. " + HELP[tool])


def frame_list(experiment, edit, listed, n_frames):
    """Which frames to annotate: every Nth, single frames on or off the list, any frame."""
    pool, frame = edit.pool, edit.frame
    with st.expander("Frames to annotate"):
        every = st.number_input("Annotate every Nth frame (all pools)", 1, max(n_frames, 1),
                                int(experiment.manifest["annotation"].get("every") or 15),
                                key="anno_every")
        if every != experiment.manifest["annotation"].get("every"):
            annotate.set_every(experiment, every)
            st.rerun()
        if frame in listed:
            if st.button(f"Take frame {frame} off the list", key="anno_unlist"):
                annotate.remove_frame(experiment, pool, frame)
                st.rerun()
        elif st.button(f"Put frame {frame} on the list", key="anno_list"):
            annotate.add_frame(experiment, pool, frame)
            st.rerun()
        st.number_input("Open any frame of this pool", 0, n_frames - 1, frame, key="anno_other")
        # Read the number when clicked: a number typed just before the click counts.
        st.button("Open", key="anno_open", on_click=lambda: jump(pool, ss["anno_other"]))
        if edit.had_mask:
            st.button(f"Delete the saved mask of frame {frame}", key="anno_delete",
                      icon=":material/delete:", on_click=on_canvas_action, args=("delete",))


HELP = {
    "outline": "Trace around the cell and come back near where you started: the outline fills. "
               "Two cells in one pool are both cell.",
    "brush": "Paint with a round brush: good for touching up edges.",
    "polygon": "Click corner after corner; click the first corner again to close the polygon.",
}


# -- step 4: split and the lab's folders ---------------------------------------------------------
def step_split(experiment):
    st.subheader("4 · Train / validation split and the lab's folders")
    pools = experiment.pool_numbers
    split = experiment.manifest["split"]
    if pools:
        st.caption("Split by pool, never by frame: all frames of a pool are on one side.")
        a, b = st.columns(2)
        train = a.multiselect("Train pools", pools, default=[p for p in split["train"] if p in pools],
                              key="split_train")
        validation = b.multiselect("Validation pools", pools,
                                   default=[p for p in split["validation"] if p in pools],
                                   key="split_validation")
        if st.button("Save the split", key="split_save"):
            with ui.report_errors():
                experiment.set_split(train, validation)
                st.success(f"Saved: {len(train)} train and {len(validation)} validation pools.")
        st.markdown(plate_map(experiment))
    imported = st.empty()  # filled last: an import below changes the counts
    new_experiment_form()

    imp, exp = st.columns(2)
    with imp:
        st.markdown("##### Import the lab's masks")
        st.caption("A folder with train/ and validation/: names with **x** are images, names "
                   "with **y** their masks (black = cell), paired in sorted order.")
        replace = st.checkbox("Replace pairs imported earlier", key="import_replace")
        folder = st.text_input("Folder on this computer", key="import_folder")
        if st.button("Import the folder", key="import_go"):
            with ui.report_errors():
                if not folder.strip():
                    raise BlastoError("Type the folder's path first (the folder holding train/ "
                                      "and validation/).")
                show_report(labdata.import_lab_folder(experiment, folder.strip(), replace=replace))
        upload = st.file_uploader("…or a zip of that folder", type=["zip"], key="import_zip")
        if upload is not None and st.button("Import the zip", key="import_zip_go"):
            with ui.report_errors():
                show_report(labdata.import_lab_zip(experiment, upload.getvalue(), replace=replace))
    with exp:
        st.markdown("##### Export in the lab's layout")
        st.caption("Cleaned frame as x, mask as y, by each pool's side; imported pairs too.")
        target = st.text_input("Empty folder to write into", key="export_folder")
        force = st.checkbox("Replace train/ and validation/ if the folder has them",
                            key="export_force")
        if st.button("Export to the folder", key="export_go"):
            with ui.report_errors():
                if not target.strip():
                    raise BlastoError("Type the path of an empty folder to export into first.")
                counts = labdata.export_lab_folder(experiment, target.strip(), force=force)
                st.success(f"Exported {counts['train']} train and {counts['validation']} "
                           f"validation pairs to {target.strip()}.")
                left_out = labdata.unsplit_pools(experiment)
                if left_out:
                    st.warning("Not exported, on neither side of the split: pool(s) "
                               f"{', '.join(map(str, left_out))}.")
        st.download_button("Download as a zip", icon=":material/download:",
                           data=lambda: labdata.export_lab_zip(experiment),
                           file_name=f"{experiment.name}-masks.zip", mime="application/zip",
                           key="export_zip", on_click="ignore")
    counts = {side: len(experiment.imported_pairs(side)) for side in labdata.SIDES}
    imported.markdown(f"**Imported pairs**: {counts['train']} train, {counts['validation']} "
                      "validation.")


def new_experiment_form():
    """An empty experiment, to import the lab's masks into without cropping a movie."""
    with st.expander("New empty experiment (for the lab's masks only)"):
        name = st.text_input("Name", key="new_name")
        size = int(st.number_input("Working size (pixels)", 32, 1024, 256, 32, key="new_size"))
        if st.button("Create", key="new_go"):
            with ui.report_errors():
                experiment = create_experiment(validate_name(name), size=size)
                go_to(experiment=experiment.name)
                st.rerun()


def plate_map(experiment) -> str:
    """The plate's pools as a markdown grid, coloured by side (blue train, orange validation)."""
    grid = experiment.manifest.get("grid") or {}
    pools = experiment.pool_numbers
    cols = int(grid.get("cols") or 4)
    rows = -(-max(pools) // cols)
    colour = {"train": "blue", "validation": "orange"}
    cells = []
    for pool in range(1, rows * cols + 1):
        side = experiment.split_of(pool) if pool in pools else None
        cells.append(f":{colour[side]}[**{pool}** {side}]" if side else f"{pool} -")
    lines = ["| " + " | ".join(f"col {c + 1}" for c in range(cols)) + " |",
             "|" + " --- |" * cols]
    lines += ["| " + " | ".join(cells[r * cols:(r + 1) * cols]) + " |" for r in range(rows)]
    return "\n".join(lines)


def show_report(report):
    st.success(report.summary())
    for warning in report.warnings:
        st.warning(warning)


# -- the page ---------------------------------------------------------------------------------------
def main():
    ui.page_setup("Annotate")
    apply_pending()
    st.title("Annotate")
    experiment = ui.pick_experiment()
    if "anno_step" not in ss:
        wanted = st.query_params.get("step", "")
        matches = [s for s in STEPS if s.lower().startswith(wanted.lower())] if wanted else []
        has_pools = experiment is not None and experiment.pool_numbers
        ss["anno_step"] = matches[0] if matches else ("Draw" if has_pools else "Crop")
    step = st.radio("Step", STEPS, horizontal=True, key="anno_step", label_visibility="collapsed",
                    format_func=lambda s: f"{STEPS.index(s) + 1} · {s}")
    # A step's result stays shown while the user is on the step it led to (the canvas's own
    # first report reruns the page at once, so a one-run message would flash and vanish).
    notice = ss.get("anno_notice")
    if notice and notice[0] == step:
        st.success(notice[1])
    elif notice:
        ss.pop("anno_notice")
    if step != "Draw" or experiment is None:
        leave_edit(experiment)  # autosave strokes left on the canvas
    with ui.report_errors():
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


main()
