"""Masks proposed for the person to accept or correct: by a model, or copied from a saved mask.

A :class:`Proposal` is a mask for one frame of one pool and where it came from (``source``,
e.g. ``"model demo"``, ``"copy of frame 15"``). Nothing here writes a mask: the Draw step turns
a proposal into one undoable edit (:mod:`blasto.annotate.edit`), the ``propose`` command writes
proposals as lab PNGs.

* :func:`propose_masks` runs a model (default :func:`blasto.model.files.default_model`) on
  frames of a pool and post-processes the probabilities exactly as Review measures them
  (:func:`blasto.review.areas.masks_from_probabilities`: threshold, hole filling, small objects).
* :func:`copy_previous` proposes the nearest saved mask of the same pool.
* :func:`saved_masks` is what counts as "saved" for both: the pool's hand masks, and imported lab
  pairs whose image is exactly one of the pool's frames (an export of this experiment imported
  back: the lab's folders name no pool or frame, so the pixels are the only link).

Interpolation between saved keyframes is :mod:`blasto.annotate.interpolate`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from blasto.errors import BlastoError, ExperimentError
from blasto.masks import THRESHOLD, check_threshold
from blasto.store.manifest import SIDES


@dataclass(frozen=True)
class Proposal:
    """A proposed mask for one frame: bool (H, W) at the pool frame's size, True = cell.

    >>> p = Proposal(pool=3, frame=15, mask=np.zeros((4, 4), bool), source="model demo")
    >>> p.describe()
    'pool 3, frame 15: model demo (0 cell px)'
    """

    pool: int
    frame: int
    mask: np.ndarray
    source: str

    def describe(self) -> str:
        """One line for captions and the command line."""
        return f"pool {self.pool}, frame {self.frame}: {self.source} ({int(self.mask.sum())} cell px)"


# -- the experiment, the model ------------------------------------------------------------------
def as_experiment(experiment):
    """An :class:`~blasto.store.experiment.Experiment` from itself or its name."""
    from blasto.store.experiment import Experiment, open_experiment

    return experiment if isinstance(experiment, Experiment) else open_experiment(str(experiment))


def check_pool(experiment, pool) -> int:
    """``pool`` as an int if the experiment has a movie for it, else :class:`ExperimentError`."""
    try:
        number = int(pool)
    except (TypeError, ValueError):
        raise ExperimentError(f"Pool {pool!r} is not a number.") from None
    pools = experiment.pool_numbers
    if number not in pools:
        known = f"pools {pools[0]} to {pools[-1]}" if pools else "no pools yet"
        raise ExperimentError(f"{experiment.name} has no pool {number} ({known}).")
    return number


def check_frames(experiment, pool: int, frames) -> list[int]:
    """``frames`` as ints within the pool movie, or :class:`ExperimentError` naming the bad one."""
    n_frames = experiment.n_frames(pool)
    checked = []
    for frame in frames:
        try:
            number = int(frame)
        except (TypeError, ValueError):
            raise ExperimentError(f"Frame {frame!r} is not a number.") from None
        if not 0 <= number < n_frames:
            raise ExperimentError(f"Pool {pool} of {experiment.name} has frames 0 to {n_frames - 1}; "
                                  f"there is no frame {number}.")
        checked.append(number)
    return checked


def model_path(experiment, model=None) -> Path:
    """The model to propose with: ``model`` (a :class:`~blasto.model.files.ModelEntry`, a run id
    or model name under ``models/``, or a path), else the experiment's default model."""
    from blasto.model import files

    if model is None:
        entry = files.default_model(experiment.name)
        if entry is None:
            raise BlastoError(f"No model to propose masks with: {files.models_root()} holds no "
                              "saved model (train one on the Train page, or restore models/demo).")
        return entry.path
    if isinstance(model, files.ModelEntry):
        return model.path
    return files.resolve_model(model)


def model_name(path) -> str:
    """How a proposal names its model: the run/model folder's name, or the file's stem.

    >>> model_name(Path("models/demo")), model_name(Path("models/run-1/best.keras"))
    ('demo', 'run-1')
    """
    path = Path(path)
    if path.suffix == ".keras":
        return path.parent.name if path.name in ("best.keras", "model.keras", "last.keras") else path.stem
    return path.name


# Loading a Keras model takes seconds; the Draw step proposes frame after frame with the same
# one. Keyed by the model file and its modification time, so a retrained best.keras reloads.
_PREDICTORS: dict = {}


def load_predictor(path):
    """A :class:`~blasto.model.inference.Predictor` for the model at ``path``, kept for reuse
    (the last two models) until the model file changes."""
    from blasto.model.files import model_file
    from blasto.model.inference import Predictor

    file = model_file(path)
    key = (str(file.resolve()), file.stat().st_mtime_ns)
    if key not in _PREDICTORS:
        while len(_PREDICTORS) >= 2:
            _PREDICTORS.pop(next(iter(_PREDICTORS)))
        _PREDICTORS[key] = Predictor.load(file)
    return _PREDICTORS[key]


# -- proposals from a model ---------------------------------------------------------------------
def propose_masks(experiment, pool, frames, *, model=None, predictor=None, threshold=THRESHOLD,
                  progress=None) -> list[Proposal]:
    """The model's masks for ``frames`` of ``pool``, post-processed as Review measures them.

    ``model``: a model name, run id or path (None: the experiment's default model, see
    :func:`blasto.model.files.default_model`); ``predictor``: a ready
    :class:`~blasto.model.inference.Predictor` (or any ``frames -> P(cell)`` callable taking
    ``progress=``) to use instead of loading the model. When Review already predicted the pool
    with this model (its cache is current) and no predictor is given, the cache is used and the
    network does not run. ``progress(done, total)`` follows the frames.
    """
    from blasto.review.areas import PostProcessing, masks_from_probabilities
    from blasto.review.predictions import read_cached

    experiment = as_experiment(experiment)
    pool = check_pool(experiment, pool)
    frames = check_frames(experiment, pool, frames)
    post = PostProcessing(threshold=check_threshold(threshold))
    path = model_path(experiment, model)
    source = f"model {model_name(path)}"
    if not frames:
        return []
    cached = read_cached(experiment, path, pool) if predictor is None else None
    if cached is not None:
        probabilities = np.asarray(cached[frames])
        if progress:
            progress(len(frames), len(frames))
    else:
        predictor = predictor or load_predictor(path)
        movie = experiment.read_pool_movie(pool)
        probabilities = predictor(np.asarray(movie[frames]), progress=progress)
    masks = masks_from_probabilities(probabilities, post=post)
    return [Proposal(pool=pool, frame=frame, mask=np.asarray(mask, bool), source=source)
            for frame, mask in zip(frames, masks)]


# -- saved masks: hand-drawn, and imported pairs that are frames of this pool ----------------------
def _frame_key(image) -> str:
    return hashlib.sha1(np.ascontiguousarray(image, np.uint8).tobytes()).hexdigest()


def imported_masks(experiment, pool) -> dict[int, np.ndarray]:
    """Masks of imported lab pairs whose image is exactly a frame of ``pool``'s movie, by frame.

    The lab's folders name no pool or frame; an image equal pixel for pixel to a pool frame
    (as ``export-masks`` writes the cleaned frames, and ``import-masks`` reads them back) is
    that frame. Images that match no frame (another plate, another size) are ignored.
    """
    experiment = as_experiment(experiment)
    pool = int(pool)
    pairs = [pair for side in SIDES for pair in experiment.imported_pairs(side)]
    if not pairs:
        return {}
    movie = experiment.read_pool_movie(pool)
    frames_by_key = {}
    for frame in range(len(movie)):
        frames_by_key.setdefault(_frame_key(movie[frame]), frame)
    found = {}
    for image_path, mask_path in pairs:
        image, mask = experiment.read_imported_pair(image_path, mask_path)
        frame = frames_by_key.get(_frame_key(image)) if image.shape == movie.shape[1:] else None
        if frame is not None:
            found.setdefault(frame, mask)
    return found


def saved_masks(experiment, pool) -> dict[int, np.ndarray]:
    """Every saved mask of ``pool`` by frame: hand masks, and imported pairs that are frames of
    the pool (:func:`imported_masks`); a hand mask wins over an imported one of the same frame."""
    experiment = as_experiment(experiment)
    pool = int(pool)
    masks = imported_masks(experiment, pool)
    for frame in experiment.annotated_frames(pool):
        mask = experiment.read_mask(pool, frame)
        if mask is not None:
            masks[frame] = mask
    return dict(sorted(masks.items()))


def copy_previous(experiment, pool, frame) -> Proposal | None:
    """The nearest saved mask of the same pool before ``frame`` (else the nearest after it),
    as a proposal for ``frame``; None when the pool has no other saved mask.

    The frame's own saved mask is never proposed to itself.
    """
    experiment = as_experiment(experiment)
    pool = check_pool(experiment, pool)
    (frame,) = check_frames(experiment, pool, [frame])
    masks = saved_masks(experiment, pool)
    before = [f for f in masks if f < frame]
    after = [f for f in masks if f > frame]
    if before:
        source = max(before)
    elif after:
        source = min(after)
    else:
        return None
    return Proposal(pool=pool, frame=frame, mask=masks[source].copy(), source=f"copy of frame {source}")
