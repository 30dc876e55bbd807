"""A tiny demo-like experiment for the training tests: dark discs (cells) on a gray pool.

Small (32x32 frames, a few pools) so a 4-filter U-Net trains on it in seconds.
"""

from __future__ import annotations

import numpy as np

from blasto.store.experiment import create_experiment
from blasto.store.manifest import Pool


def set_pools(experiment, pools, *, size, box=None):
    """Give a bare experiment ``pools`` (numbers) of working ``size``, each with ``box`` (top,
    left, bottom, right; default the whole ``size`` square) in source pixels, and save it."""
    experiment.manifest.size = size
    experiment.manifest.pools = [Pool(p, tuple(box or (0, 0, size, size))) for p in pools]
    experiment.save_manifest()


def disc(size, centre, radius):
    yy, xx = np.mgrid[:size, :size]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def tiny_experiment(name="tiny", *, root=None, size=32, pools=4, frames=6, every=2,
                    validation=1, empty_masks=False, seed=0):
    """Create an experiment of ``pools`` pools (the last ``validation`` ones validate) whose
    frames ``0, every, 2*every, ...`` are annotated with the exact cell disc."""
    rng = np.random.default_rng(seed)
    experiment = create_experiment(name, root=root)
    set_pools(experiment, range(1, pools + 1), size=size)
    for pool in range(1, pools + 1):
        movie = np.empty((frames, size, size), np.uint8)
        cells = []
        for t in range(frames):
            centre = rng.uniform(size * 0.3, size * 0.7, 2)
            radius = rng.uniform(size * 0.12, size * 0.25)
            cell = disc(size, centre, radius)
            image = 170 + rng.normal(0, 8, (size, size))
            image[cell] = 70 + rng.normal(0, 8, cell.sum())
            movie[t] = np.clip(image, 0, 255).astype(np.uint8)
            cells.append(cell)
        experiment.write_pool_movie(pool, movie, cleaned=True)
        for t in range(0, frames, every):
            experiment.write_mask(pool, t, np.zeros_like(cells[t]) if empty_masks else cells[t])
    numbers = list(range(1, pools + 1))
    experiment.set_split(numbers[: pools - validation], numbers[pools - validation:])
    return experiment
