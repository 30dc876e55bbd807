"""Run a model on every frame of a pool, and keep the probabilities on disk.

The network is the slow part (about 0.1 s per frame for the default U-Net on 2 CPU cores), so
its output is cached per (model, pool)::

    data/<experiment>/predictions/<model_id>/pool01.npy    (T, H, W) uint8, P(cell) * 255
    data/<experiment>/predictions/<model_id>/pool01.json   what it was computed from

Reopening a pool, changing the threshold or the post-processing reads the cache (``np.load``
with a memory map: milliseconds) and never runs the network again. The JSON beside each
array records the model file's and the pool movie's size and modification time; when either
changed (a training run wrote a better ``best.keras``, the background was cleaned again) the
cached pool is stale and is predicted again.

The network runs through :class:`blasto.model.inference.Predictor`, blasto's one inference
path; models are found and keyed by :mod:`blasto.model.files`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from blasto.errors import BlastoError
from blasto.model.files import model_file, model_id
from blasto.model.inference import Predictor
from blasto.store import atomic


# -- the cache ------------------------------------------------------------------------------
def _stamp(path: Path) -> dict:
    stat = Path(path).stat()
    return {"file": Path(path).name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _provenance(experiment, model_path, pool) -> dict:
    return {"model": _stamp(model_file(model_path)),
            "movie": _stamp(experiment.pool_movie_path(pool))}


def read_cached(experiment, model_path, pool: int) -> np.ndarray | None:
    """The cached probabilities of ``pool`` (read-only memory map), or None if absent or stale."""
    path = experiment.prediction_path(model_id(model_path), pool)
    sidecar = path.with_suffix(".json")
    if not path.exists() or not sidecar.exists():
        return None
    try:
        recorded = json.loads(sidecar.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if recorded.get("provenance") != _provenance(experiment, model_path, pool):
        return None
    try:
        probabilities = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return None
    expected = experiment.read_pool_movie(pool).shape
    return probabilities if probabilities.shape == expected and probabilities.dtype == np.uint8 else None


def cached_pools(experiment, model_path) -> list[int]:
    """Pools of ``experiment`` whose predictions by this model are cached and current."""
    return [pool for pool in experiment.pool_numbers if read_cached(experiment, model_path, pool) is not None]


def predict_pool(experiment, pool: int, *, model_path, predictor=None, progress=None,
                 overwrite: bool = False) -> np.ndarray:
    """Probabilities (T, H, W) uint8 of one pool: from the cache, or predicted and cached.

    ``predictor`` is a :class:`Predictor` (or any callable ``frames -> uint8 probabilities``
    taking ``progress=``); it is loaded from ``model_path`` only when the network must run.
    """
    if not overwrite:
        cached = read_cached(experiment, model_path, pool)
        if cached is not None:
            if progress:
                progress(len(cached), len(cached))
            return cached
    return _predict_and_cache(experiment, pool, model_path=model_path,
                              predictor=predictor or Predictor.load(model_path), progress=progress)


def _predict_and_cache(experiment, pool: int, *, model_path, predictor, progress=None) -> np.ndarray:
    """Run ``predictor`` on every frame of ``pool`` and cache the probabilities (no cache check)."""
    provenance = _provenance(experiment, model_path, pool)
    frames = experiment.read_pool_movie(pool)
    probabilities = predictor(frames, progress=progress)
    path = experiment.prediction_path(model_id(model_path), pool)
    atomic.write_npy(path, probabilities)
    atomic.write_json(path.with_suffix(".json"), {
        "pool": int(pool), "model_path": str(model_path), "provenance": provenance,
        "shape": list(probabilities.shape),
    })
    return np.load(path, mmap_mode="r")


def predict_pools(experiment, *, model_path, pools=None, predictor=None, progress=None,
                  overwrite: bool = False, batch_size: int | None = None,
                  precision: str | None = None) -> dict[int, np.ndarray]:
    """Predict (or read from the cache) several pools; the model is loaded at most once.

    ``pools`` defaults to all pools. ``batch_size`` and ``precision`` go to the
    :class:`Predictor` (default: the machine's faster precision and its batch size).
    ``progress(done_frames, total_frames, pool)`` follows
    the frames of all pools together.
    """
    pools = list(pools) if pools else experiment.pool_numbers
    unknown = sorted(set(pools) - set(experiment.pool_numbers))
    if unknown:
        raise BlastoError(f"Experiment {experiment.name!r} has no pool {unknown[0]} "
                          f"(pools: {experiment.pool_numbers}).")
    lengths = {pool: experiment.n_frames(pool) for pool in pools}
    total, done = sum(lengths.values()), 0
    results = {}
    for pool in pools:
        def report(n, _total, pool=pool, before=done):
            if progress:
                progress(before + n, total, pool)

        # One cache read per pool: it decides whether the model is needed and is the result
        # (predict_pool would read the same cache again).
        cached = None if overwrite else read_cached(experiment, model_path, pool)
        if cached is not None:
            report(len(cached), len(cached))  # a cached pool counts as done, as in predict_pool
            results[pool] = cached
        else:
            if predictor is None:
                predictor = Predictor.load(model_path, batch_size=batch_size, precision=precision)
            results[pool] = _predict_and_cache(experiment, pool, model_path=model_path, predictor=predictor,
                                               progress=report)
        done += lengths[pool]
    return results


def delete_predictions(experiment, model_path=None) -> None:
    """Forget cached predictions: of one model, or of all models."""
    folder = experiment.predictions_dir(model_id(model_path) if model_path else None)
    if folder.is_dir():
        shutil.rmtree(folder)
