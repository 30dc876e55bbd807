"""How good a model is on an experiment's validation frames: :func:`evaluate` (the scores,
``python -m blasto evaluate``) and :func:`preview` (overlays for the Train page).

Both predict through :class:`blasto.model.inference.Predictor` and cut at the threshold with
:func:`blasto.masks.cell_mask`, as validation during training does.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from blasto.errors import TrainingError
from blasto.masks import THRESHOLD, cell_mask, check_threshold, score_frames


@dataclasses.dataclass(frozen=True)
class FrameScore:
    """Dice and IoU of one validation frame (``source``: "pool 12, frame 15" or a file name)."""

    source: str
    dice: float
    iou: float


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Scores of a model on every validation frame of an experiment, and their means."""

    experiment: str
    model: Path
    threshold: float
    frames: list[FrameScore]
    dice_mean: float
    iou_mean: float

    def to_dict(self) -> dict:
        """JSON-ready (``python -m blasto evaluate --json``)."""
        return {"experiment": self.experiment, "model": str(self.model), "threshold": self.threshold,
                "dice_mean": self.dice_mean, "iou_mean": self.iou_mean,
                "frames": [dataclasses.asdict(frame) for frame in self.frames]}


@dataclasses.dataclass(frozen=True)
class PreviewFrame:
    """One validation frame with the model's mask (and the hand mask) drawn on it."""

    image: np.ndarray  # RGB uint8
    caption: str


def _validation_frames(experiment):
    from blasto.train.dataset import collect_frames

    return collect_frames(experiment, "validation")


def evaluate(experiment, model, *, threshold=THRESHOLD) -> Evaluation:
    """Dice and IoU (at ``threshold``) of ``model`` (a model file, a run or model folder, or a
    name under ``models/``) on every annotated validation frame of ``experiment``."""
    from blasto.model.files import model_file, resolve_model
    from blasto.model.inference import Predictor

    threshold = check_threshold(threshold)
    frames = _validation_frames(experiment)
    if not len(frames):
        raise TrainingError(f"Experiment {experiment.name!r} has no annotated validation frame to "
                            "evaluate on.")
    file = model_file(resolve_model(model))
    probabilities = Predictor.load(file).probabilities(frames.images)
    scores = score_frames(cell_mask(probabilities, threshold=threshold), frames.masks)
    rows = [FrameScore(source, float(d), float(i))
            for source, d, i in zip(frames.sources, scores.dice, scores.iou)]
    return Evaluation(experiment=experiment.name, model=file, threshold=threshold, frames=rows,
                      dice_mean=scores.dice_mean, iou_mean=scores.iou_mean)


def preview(run, experiment, *, count=4, threshold=THRESHOLD) -> list[PreviewFrame]:
    """Up to ``count`` validation frames of ``experiment``, spread over them, with the mask of
    ``run``'s saved model outlined and the hand mask in the second colour ([] without any
    annotated validation frame)."""
    from blasto.model.inference import Predictor
    from blasto.review.overlay import overlay_frame

    threshold = check_threshold(threshold)
    frames = _validation_frames(experiment)
    if not len(frames):
        return []
    if run.model_file is None:
        raise TrainingError(f"Run {run.name} has no saved model yet to preview.")
    pick = np.linspace(0, len(frames) - 1, min(count, len(frames))).astype(int)
    probabilities = Predictor.load(run.model_file).probabilities(frames.images[pick])
    return [PreviewFrame(image=overlay_frame(frames.images[i], cell_mask(p, threshold=threshold),
                                             manual=frames.masks[i]),
                         caption=frames.sources[i])
            for i, p in zip(pick, probabilities)]
