"""Writing the demo: the raw plate movie, its exact truth, manual measurements, the ready experiment.

:func:`write_demo` writes, deterministically from a seed::

    <root>/demo-movie/plate.tif                  the raw plate movie (T, H, W) uint8, ImageJ
                                                 stack with its frame interval (600 s) and
                                                 pixel size (1.5 um)
    <root>/demo-movie/truth.tif                  (T, H, W) uint8 labels: 0 = background,
                                                 k = a cell of pool k
    <root>/demo-movie/manual_measurements.csv    pool,frame,time_min,area_px (human-like)
    <root>/demo-movie/scene.json                 what was drawn: pools, cells, bubbles
    <root>/demo/                                 the ready experiment: cropped, cleaned,
                                                 annotated every 15th frame from the truth

The ready experiment is built with the app's own code paths: :func:`blasto.prepare.crop.crop_plate`
on the exact grid, :func:`blasto.prepare.clean.clean_experiment`, and
:meth:`blasto.store.experiment.Experiment.write_mask` with the truth cropped by
:func:`blasto.prepare.crop.crop_box` (``order=0``, the movie crop's geometry).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from blasto.demo.render import synthesize_plate
from blasto.demo.scene import (FRAME_INTERVAL_S, GRID_COLS, GRID_ROWS, PIXEL_SIZE_UM, PLATE_SIZE,
                               checked_frames, demo_grid)
from blasto.errors import BlastoError, ExperimentError
from blasto.store import atomic
from blasto.store.manifest import ANNOTATE_EVERY  # the demo is annotated as the lab does

#: Pools with "manual measurements": one training pool and one validation pool.
MANUAL_POOLS = (3, 14)
#: Frames measured by hand: every 3rd, a few skipped.
MANUAL_EVERY = 3
#: The ready experiment's name and the raw movie's folder under the root.
EXPERIMENT_NAME = "demo"
MOVIE_DIR = "demo-movie"


# -- manual measurements: what a careful person would have traced ---------------------------
def true_areas(truth: np.ndarray, *, n_pools: int = GRID_ROWS * GRID_COLS) -> np.ndarray:
    """Exact cell area (source pixels) of every pool in every frame: (T, n_pools + 1), column
    k for pool k (column 0 is the background).

    >>> true_areas(np.array([[[0, 1], [1, 2]]], np.uint8), n_pools=2).tolist()
    [[1, 2, 1]]
    """
    return np.stack([np.bincount(frame.ravel(), minlength=n_pools + 1)[: n_pools + 1]
                     for frame in np.asarray(truth)])


def manual_measurements(truth, *, pools=MANUAL_POOLS, seed=0) -> list[dict]:
    """Human-like area measurements of ``pools``: every 3rd frame with a few skipped, the true
    area with a slight systematic bias (outlines traced a little outside the membrane) and a
    few per cent of noise. Rows of pool, frame, time_min, area_px."""
    rng = np.random.default_rng([seed, 2])
    areas = true_areas(truth)
    bias = rng.uniform(0.015, 0.035)
    rows = []
    for pool in pools:
        for frame in range(0, len(areas), MANUAL_EVERY):
            if frame and rng.random() < 0.1:  # a frame the person skipped
                continue
            measured = areas[frame, pool] * (1.0 + bias) * (1.0 + rng.normal(0.0, 0.025))
            rows.append({"pool": int(pool), "frame": frame,
                         "time_min": round(frame * FRAME_INTERVAL_S / 60.0, 3),
                         "area_px": int(round(measured))})
    return rows


def _csv(rows) -> str:
    lines = ["pool,frame,time_min,area_px"]
    lines += [f"{r['pool']},{r['frame']},{r['time_min']:g},{r['area_px']}" for r in rows]
    return "\n".join(lines) + "\n"


# -- files ----------------------------------------------------------------------------------
def _write_plate_movie(path, movie) -> None:
    """The raw plate movie as an uncompressed ImageJ stack that knows its frame interval and
    pixel size (Fiji shows both)."""
    import tifffile

    with atomic.atomic_path(path, suffix=".tif") as tmp:
        tifffile.imwrite(
            tmp, movie, imagej=True, resolution=(1.0 / PIXEL_SIZE_UM, 1.0 / PIXEL_SIZE_UM),
            metadata={"axes": "TYX", "finterval": FRAME_INTERVAL_S, "tunit": "s", "unit": "um"},
        )


def _write_labels(path, labels) -> None:
    """A (T, H, W) uint8 stack, zlib-compressed: truth is mostly zeros (read it with
    ``tifffile.imread``)."""
    import tifffile

    with atomic.atomic_path(path, suffix=".tif") as tmp:
        tifffile.imwrite(tmp, np.asarray(labels, np.uint8), photometric="minisblack",
                         compression="zlib", compressionargs={"level": 1})


def _fill_experiment(experiment, plate_path, truth, grid, rows, *, seed, n_frames, say) -> None:
    """Crop, clean and annotate the demo experiment with the app's own code paths."""
    from blasto.prepare.clean import clean_experiment
    from blasto.prepare.crop import crop_box, crop_plate

    say("cropping the plate into 16 pool movies")
    crop_plate(plate_path, experiment, grid=grid, size=256)  # its pixel size too: plate.tif says it
    say("cleaning the background")
    clean_experiment(experiment)
    manifest = experiment.manifest
    say(f"annotating every {ANNOTATE_EVERY}th frame from the truth")
    for entry in manifest.pools:
        pool = entry.number
        cell = np.stack([crop_box(labels, entry.box, size=manifest.size, order=0) == pool for labels in truth])
        _write_labels(experiment.truth_path(pool), np.where(cell, 255, 0).astype(np.uint8))
        for frame in range(0, n_frames, ANNOTATE_EVERY):
            experiment.write_mask(pool, frame, cell[frame])
    for pool in sorted({r["pool"] for r in rows}):
        atomic.write_text(experiment.measurements_path(pool), _csv([r for r in rows if r["pool"] == pool]))
    manual_pools = sorted({r["pool"] for r in rows})
    manifest.notes = (f"Synthetic demo plate (seed {seed}, {n_frames} frames), made by "
                      "`python -m blasto demo`: masks every 15th frame come from the exact ground "
                      "truth (pools/poolNN/truth.tif); manual measurements for pools "
                      f"{', '.join(map(str, manual_pools))}.")
    manifest.extra["demo"] = {"seed": int(seed), "n_frames": int(n_frames), "truth": "pools/poolNN/truth.tif",
                              "manual_measurement_pools": manual_pools}
    manifest.annotation.every = ANNOTATE_EVERY
    experiment.save_manifest()


def write_demo(root, *, seed=0, n_frames=144, overwrite=False, progress=None):
    """Write the demo plate movie, its truth and manual measurements, and the ready experiment.

    Layout under ``root`` (see the module doc): ``demo-movie/`` (plate.tif, truth.tif,
    manual_measurements.csv, scene.json) and the experiment ``demo/``. Everything is built in a
    hidden folder under ``root`` and moved into place at the end, so an interrupted run leaves
    nothing half-made. An existing ``demo`` experiment (which may hold work) is refused unless
    ``overwrite=True``; a ``demo-movie/`` without it is simply made again.
    ``progress(message)`` hears about each stage. Returns the :class:`~blasto.store.experiment.Experiment`.
    """
    from blasto.store.experiment import Experiment, create_experiment

    say = progress or (lambda message: None)
    root = Path(root)
    movie_dir, target = root / MOVIE_DIR, root / EXPERIMENT_NAME
    if int(seed) < 0:
        raise BlastoError(f"The demo's seed must be 0 or more (got {seed}).")
    n_frames = checked_frames(n_frames)
    if target.exists() and not overwrite:
        raise ExperimentError(
            f"{target} already exists: overwrite it (--force; its annotations are lost) "
            "or write the demo into another folder."
        )
    root.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(dir=root, prefix=".demo-build-"))
    try:
        grid = demo_grid()
        say(f"drawing {n_frames} frames of a {PLATE_SIZE}x{PLATE_SIZE} plate (seed {seed})")
        movie, truth, scene = synthesize_plate(seed=seed, n_frames=n_frames, boxes=grid.boxes())
        say("writing the plate movie, its truth and the manual measurements")
        _write_plate_movie(build / MOVIE_DIR / "plate.tif", movie)
        del movie
        _write_labels(build / MOVIE_DIR / "truth.tif", truth)
        rows = manual_measurements(truth, seed=seed)
        atomic.write_text(build / MOVIE_DIR / "manual_measurements.csv", _csv(rows))
        atomic.write_json(build / MOVIE_DIR / "scene.json", scene.to_json())
        experiment = create_experiment(EXPERIMENT_NAME, root=build)
        _fill_experiment(experiment, build / MOVIE_DIR / "plate.tif", truth, grid, rows,
                         seed=seed, n_frames=n_frames, say=say)
        # Move into place; an old demo goes into the build folder, removed below.
        for name in (MOVIE_DIR, EXPERIMENT_NAME):
            if (root / name).exists():
                (root / name).rename(build / f"old-{name}")
            (build / name).rename(root / name)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    # The experiment was cropped from the movie in the build folder: point it at the final one.
    experiment = Experiment(target)
    experiment.manifest.source.path = str((movie_dir / "plate.tif").resolve())
    experiment.save_manifest()
    say(f"done: {target}")
    return experiment
