"""What a mask is, in one place: the lab's polarity on disk, the threshold on P(cell), the
scores of one mask against another, and a mask's outline.

In memory a mask is a ``bool`` array, True = cell. On disk it is the lab's PNG: black (0) =
cell, white (255) = background (:func:`encode_lab_mask`, :func:`decode_lab_mask`).

The network gives P(cell) per pixel; a pixel is cell when P(cell) > :data:`THRESHOLD` (the
lab's 0.8). :func:`cell_mask` is the only place that applies a threshold, and
:func:`check_threshold` the only place that checks one, so the Train page's validation Dice,
``evaluate``, Review and ``predict`` all cut probabilities the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from blasto.errors import BlastoError, MaskError

#: The lab's threshold on P(cell).
THRESHOLD = 0.8


# -- polarity on disk -------------------------------------------------------------------------
def encode_lab_mask(cell: np.ndarray) -> np.ndarray:
    """Turn a boolean cell mask into the lab's uint8 image (black = cell).

    >>> encode_lab_mask(np.array([[True, False]]))
    array([[  0, 255]], dtype=uint8)
    """
    cell = np.asarray(cell, dtype=bool)
    return np.where(cell, 0, 255).astype(np.uint8)


def decode_lab_mask(image: np.ndarray, *, source="mask") -> np.ndarray:
    """Turn a lab mask image (black = cell) into a boolean cell mask.

    Masks resized with smoothing have gray edges: they are thresholded at mid-gray. RGB(A)
    images are reduced to their mean over colour channels first.

    >>> decode_lab_mask(np.array([[0, 100, 200, 255]], dtype=np.uint8))
    array([[ True,  True, False, False]])
    """
    image = np.asarray(image)
    if image.ndim == 3:
        image = image[..., :3].mean(axis=-1)
    if image.ndim != 2:
        raise MaskError(f"{source}: a mask must be a 2-D image, got shape {image.shape}.")
    if image.dtype == bool:
        # A boolean image read from a 1-bit PNG: True is white, i.e. background.
        return ~image
    if np.issubdtype(image.dtype, np.floating):
        mid = 0.5 if image.max(initial=0) <= 1.0 else 127.5
    elif image.dtype.itemsize > 1:
        mid = 32768 if image.max(initial=0) > 255 else 128
    else:
        mid = 128
    return image < mid


# -- threshold --------------------------------------------------------------------------------
def check_threshold(threshold) -> float:
    """The threshold as a float strictly between 0 and 1, or :class:`BlastoError` saying so.

    >>> check_threshold(0.8)
    0.8
    >>> check_threshold(1.5)
    Traceback (most recent call last):
    ...
    blasto.errors.BlastoError: Threshold 1.5 on P(cell) must be between 0 and 1 (the lab uses 0.8).
    """
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise BlastoError(f"Threshold {threshold!r} on P(cell) is not a number.") from None
    if not 0.0 < value < 1.0:
        raise BlastoError(f"Threshold {value:g} on P(cell) must be between 0 and 1 "
                          f"(the lab uses {THRESHOLD}).")
    return value


def cell_mask(probabilities, *, threshold: float = THRESHOLD) -> np.ndarray:
    """Cell where P(cell) > ``threshold``; ``probabilities`` are floats in [0, 1] or the
    prediction cache's uint8 (P x 255).

    >>> cell_mask(np.array([0.5, 0.9]), threshold=0.8)
    array([False,  True])
    >>> cell_mask(np.array([204, 205], np.uint8), threshold=0.8)
    array([False,  True])
    """
    probabilities = np.asarray(probabilities)
    if probabilities.dtype == np.uint8:
        return probabilities > threshold * 255.0
    return probabilities > threshold


# -- scores -----------------------------------------------------------------------------------
def dice(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Dice coefficient of two boolean masks; 1.0 when both are empty.

    >>> dice(np.array([1, 1, 0, 0], bool), np.array([1, 0, 0, 0], bool))
    0.6666666666666666
    """
    predicted, truth = np.asarray(predicted, bool), np.asarray(truth, bool)
    total = predicted.sum() + truth.sum()
    if total == 0:
        return 1.0
    return float(2.0 * np.logical_and(predicted, truth).sum() / total)


def iou(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two boolean masks; 1.0 when both are empty.

    >>> iou(np.array([1, 1, 0, 0], bool), np.array([1, 0, 0, 0], bool))
    0.5
    """
    predicted, truth = np.asarray(predicted, bool), np.asarray(truth, bool)
    union = np.logical_or(predicted, truth).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(predicted, truth).sum() / union)


@dataclass(frozen=True)
class FrameScores:
    """Dice and IoU of each frame of a stack, and their means."""

    dice: np.ndarray
    iou: np.ndarray

    @property
    def dice_mean(self) -> float:
        return float(np.mean(self.dice)) if len(self.dice) else float("nan")

    @property
    def iou_mean(self) -> float:
        return float(np.mean(self.iou)) if len(self.iou) else float("nan")


def score_frames(predicted, truth) -> FrameScores:
    """Per-frame Dice and IoU of two (N, H, W) boolean stacks (cut probabilities with
    :func:`cell_mask` first).

    >>> s = score_frames(np.ones((2, 2, 2), bool), np.array([[[1, 1], [1, 1]], [[1, 0], [0, 0]]], bool))
    >>> s.dice.round(3).tolist(), round(s.iou_mean, 3)
    ([1.0, 0.4], 0.625)
    """
    predicted, truth = np.asarray(predicted, bool), np.asarray(truth, bool)
    if predicted.shape != truth.shape:
        raise MaskError(f"Cannot score masks of shape {predicted.shape} against {truth.shape}.")
    if predicted.ndim == 2:
        predicted, truth = predicted[None], truth[None]
    return FrameScores(dice=np.array([dice(p, t) for p, t in zip(predicted, truth)], float),
                       iou=np.array([iou(p, t) for p, t in zip(predicted, truth)], float))


# -- drawing ----------------------------------------------------------------------------------
def outline(mask: np.ndarray, *, thickness: int = 1) -> np.ndarray:
    """The inner border of a mask, ``thickness`` pixels wide.

    >>> m = np.zeros((5, 5), bool); m[1:4, 1:4] = True
    >>> int(outline(m).sum())
    8
    """
    mask = np.asarray(mask, bool)
    eroded = ndimage.binary_erosion(mask, iterations=max(1, int(thickness)), border_value=0)
    return mask & ~eroded
