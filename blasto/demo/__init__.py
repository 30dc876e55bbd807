"""The synthetic demo plate with its exact ground truth, and the ready demo experiment.

Three steps, one module each: :mod:`blasto.demo.scene` plans what the plate shows (pools,
cells and their collapse times, bubbles, debris) from a seed, :mod:`blasto.demo.render` draws
the frames and their truth, and :mod:`blasto.demo.write` writes the movie, the truth, the
manual measurements and the ready experiment (:func:`write_demo`).
"""

from blasto.demo.render import synthesize_plate
from blasto.demo.scene import (FRAME_INTERVAL_S, GRID_COLS, GRID_ROWS, MAX_FRAMES, MIN_FRAMES,
                               PIXEL_SIZE_UM, PLATE_SIZE, Scene, demo_grid, plan_scene)
from blasto.demo.write import (ANNOTATE_EVERY, EXPERIMENT_NAME, MANUAL_POOLS, MOVIE_DIR,
                               manual_measurements, true_areas, write_demo)

__all__ = [
    "ANNOTATE_EVERY", "EXPERIMENT_NAME", "FRAME_INTERVAL_S", "GRID_COLS", "GRID_ROWS",
    "MANUAL_POOLS", "MAX_FRAMES", "MIN_FRAMES", "MOVIE_DIR", "PIXEL_SIZE_UM", "PLATE_SIZE",
    "Scene", "demo_grid", "manual_measurements", "plan_scene", "synthesize_plate", "true_areas", "write_demo",
]
