"""How well the model's area curve and masks agree with the hand's: min-max normalised curves,
Pearson r, the frames that differ most, Dice and IoU against the hand masks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from blasto.masks import score_frames
from blasto.review.measurements import Measurements


def normalise(values) -> np.ndarray:
    """Min-max normalise to 0..1, as the lab does; a constant curve becomes all zeros.

    >>> normalise([2, 4, 3]).tolist()
    [0.0, 1.0, 0.5]
    """
    values = np.asarray(values, float)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return values.copy()
    low, high = finite.min(), finite.max()
    if high == low:
        return np.where(np.isfinite(values), 0.0, np.nan)
    return (values - low) / (high - low)


def pearson_r(a, b) -> float:
    """Pearson correlation of two curves; NaN when fewer than 2 points or one is constant.

    >>> round(pearson_r([1, 2, 3], [2, 4, 7]), 4)
    0.9934
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


@dataclass
class Agreement:
    """How well the model's area curve follows the manual one, on the frames both have."""

    n: int
    pearson_r: float
    mae_normalised: float
    most_different: pd.DataFrame  # frame, model, manual (normalised), difference

    def summary(self) -> str:
        return f"Pearson r {self.pearson_r:.3f}, MAE (normalised) {self.mae_normalised:.3f} over {self.n} frames"


def agreement(model_areas, measurements: Measurements, *, top: int = 5) -> Agreement:
    """Compare the model's per-frame areas with manual measurements.

    Each curve is min-max normalised over its own points (the model's over all frames, the
    manual one over its measured frames), as the lab's charts show them; Pearson r (which
    does not depend on normalisation) and the mean absolute error of the normalised curves
    are taken on the frames that have a manual value. ``most_different`` lists the ``top``
    frames where the normalised curves differ most.

    >>> m = Measurements(frames=np.array([0, 1, 2]), areas=np.array([10., 20., 15.]))
    >>> a = agreement(np.array([100, 200, 150, 120]), m)
    >>> round(a.pearson_r, 3), round(a.mae_normalised, 3)
    (1.0, 0.0)
    """
    model_areas = np.asarray(model_areas, float)
    frames = measurements.frames[measurements.frames < len(model_areas)]
    manual = measurements.areas[: len(frames)]
    model_norm = normalise(model_areas)[frames]
    manual_norm = normalise(manual)
    difference = model_norm - manual_norm
    order = np.argsort(-np.abs(difference), kind="stable")[:top]
    table = pd.DataFrame({
        "frame": frames[order],
        "model": model_norm[order],
        "manual": manual_norm[order],
        "difference": difference[order],
    })
    return Agreement(
        n=len(frames),
        pearson_r=pearson_r(model_areas[frames], manual),
        mae_normalised=float(np.abs(difference).mean()) if len(frames) else float("nan"),
        most_different=table,
    )


def mask_agreement(experiment, pool: int, predicted_masks) -> pd.DataFrame:
    """Dice and IoU of the predicted mask against each hand mask of ``pool``.

    Returns a DataFrame (frame, dice, iou), one row per annotated frame (empty if none).
    """
    frames, manual, predicted = [], [], []
    for frame in experiment.annotated_frames(pool):
        if frame >= len(predicted_masks):
            continue
        mask = experiment.read_mask(pool, frame)
        if mask is None or mask.shape != predicted_masks[frame].shape:
            continue
        frames.append(frame)
        manual.append(mask)
        predicted.append(np.asarray(predicted_masks[frame], bool))
    if not frames:
        return pd.DataFrame(columns=["frame", "dice", "iou"])
    scores = score_frames(np.stack(predicted), np.stack(manual))
    return pd.DataFrame({"frame": frames, "dice": scores.dice, "iou": scores.iou})
