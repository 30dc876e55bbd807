"""Which frames of a pool to check next: those the model is least sure of.

Two signs of doubt per frame, both fractions, added into one score:

* ``uncertain_fraction``: the fraction of the frame's pixels with P(cell) between ``low`` and
  ``high`` (0.2 and 0.8): a sure model is near 0 or 1 everywhere but a thin band at the border.
* ``area_jump``: how far the frame's cell area (P(cell) > the lab's 0.8) is from the mean of its
  neighbours' (the frame before and after), as a fraction of the larger of the two. A
  blastocyst's area changes slowly from frame to frame (a collapse takes hours, frames are
  minutes apart); a sudden jump is usually a wrong frame (a bubble taken for cell, a cell lost).

>>> p = np.zeros((3, 10, 10), np.float32); p[:, 2:8, 2:8] = 1.0
>>> p[1, 2:8, 2:8] = 0.5                                   # frame 1: the model is unsure
>>> [d.frame for d in rank_frames(p)]
[1, 0, 2]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from blasto.annotate.propose import as_experiment, check_pool, model_path, saved_masks
from blasto.errors import BlastoError
from blasto.masks import THRESHOLD, cell_mask


@dataclass(frozen=True)
class FrameDoubt:
    """How doubtful the model's mask of one frame is (see the module's docstring)."""

    frame: int
    uncertain_fraction: float
    area_jump: float
    score: float

    def describe(self) -> str:
        """One line for tables and the command line.

        >>> FrameDoubt(15, 0.031, 0.12, 0.151).describe()
        'frame 15: 3.1 % of pixels uncertain, area 12.0 % off its neighbours'
        """
        return (f"frame {self.frame}: {100 * self.uncertain_fraction:.1f} % of pixels uncertain, "
                f"area {100 * self.area_jump:.1f} % off its neighbours")


def area_jumps(areas) -> np.ndarray:
    """Per frame, |area - mean of the neighbours' areas| / the larger of the two (0 for one frame).

    >>> area_jumps([100, 100, 150, 100, 100]).round(3).tolist()
    [0.0, 0.2, 0.333, 0.2, 0.0]
    """
    areas = np.asarray(areas, float)
    if len(areas) < 2:
        return np.zeros(len(areas))
    padded = np.concatenate([areas[1:2], areas, areas[-2:-1]])  # an end's only neighbour, twice
    neighbours = (padded[:-2] + padded[2:]) / 2.0
    return np.abs(areas - neighbours) / np.maximum(np.maximum(areas, neighbours), 1.0)


def rank_frames(probabilities, *, low=0.2, high=0.8) -> list[FrameDoubt]:
    """Every frame of ``probabilities`` (T, H, W): P(cell) as uint8 (x 255) or floats in [0, 1],
    most doubtful first (ties: the earlier frame first)."""
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 3:
        raise BlastoError(f"Expected probabilities of every frame (T, H, W), got shape {probabilities.shape}.")
    if not 0.0 <= float(low) < float(high) <= 1.0:
        raise BlastoError(f"The uncertain band {low}-{high} must lie within 0-1, its low end first.")
    scale = 255.0 if probabilities.dtype == np.uint8 else 1.0
    pixels = probabilities[0].size
    uncertain = np.array([np.count_nonzero((frame > low * scale) & (frame < high * scale)) / pixels
                          for frame in probabilities])
    areas = [np.count_nonzero(cell_mask(frame, threshold=THRESHOLD)) for frame in probabilities]
    jumps = area_jumps(areas)
    doubts = [FrameDoubt(frame=t, uncertain_fraction=float(u), area_jump=float(j), score=float(u + j))
              for t, (u, j) in enumerate(zip(uncertain, jumps))]
    return sorted(doubts, key=lambda d: (-d.score, d.frame))


def frames_to_check(experiment, pool, *, model=None, predictor=None, skip_saved=True,
                    progress=None) -> list[FrameDoubt]:
    """The frames of ``pool``, most doubtful first, by the model's probabilities (predicted once
    and cached per model and pool, as Review does; ``model`` as in
    :func:`blasto.annotate.propose.propose_masks`). Frames with a saved mask are left out
    unless ``skip_saved`` is False: a person has already looked at them.
    """
    from blasto.review.predictions import predict_pool

    experiment = as_experiment(experiment)
    pool = check_pool(experiment, pool)
    probabilities = predict_pool(experiment, pool, model_path=model_path(experiment, model),
                                 predictor=predictor, progress=progress)
    doubts = rank_frames(probabilities)
    if skip_saved:
        saved = set(saved_masks(experiment, pool))
        doubts = [d for d in doubts if d.frame not in saved]
    return doubts
