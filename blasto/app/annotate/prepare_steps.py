"""The Annotate page's steps 1 and 2: crop a plate movie into pools, clean the background."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from blasto.app.annotate.state import Keys, go_to, state
from blasto.app.common import clock, report_errors
from blasto.errors import BlastoError
from blasto.movies import library, open_movie
from blasto.prepare.clean import DEFAULT_TOLERANCE, clean_experiment, fill_value_for, preview_clean
from blasto.prepare.crop import crop_plate
from blasto.prepare.grid import draw_grid, suggest_grid
from blasto.store.experiment import create_experiment, list_experiments, validate_name
from blasto.store.manifest import Grid
from blasto.store.roots import data_root, fenced_path, is_allowed

ss = st.session_state


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
            if cropped_from.exists() and cropped_from not in movies and is_allowed(cropped_from):
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
        crop_controls(fenced_path(path))


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
