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

:class:`Predictor` runs the network in batches of a fixed shape through one ``tf.function``
(one trace, no per-call Keras overhead: several times faster than ``model.predict`` per frame).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from blasto.store import atomic
from blasto.errors import BlastoError
from blasto.model.unet import MODEL_FILES as _MODEL_FILES, model_file
from blasto.store.roots import models_root

#: Frames per network call. 4 is at or near the best throughput on this 2-core CPU
#: (see bench/bench_predict.py); larger batches only cost memory.
DEFAULT_BATCH_SIZE = 4


# -- models -------------------------------------------------------------------------------


def model_id(path) -> str:
    """The cache key of a model: its folder's name, or file stem + a short hash for a bare file.

    A bare ``.keras`` file is keyed by its size and modification time too, so two different
    files called ``model.keras`` never share a cache.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "run-2026"
    >>> folder.mkdir(); _ = (folder / "best.keras").write_bytes(b"x")
    >>> model_id(folder)
    'run-2026'
    """
    path = Path(path)
    if path.is_dir():
        model_file(path)  # raises if there is no model in it
        return path.name
    file = model_file(path)
    stat = file.stat()
    digest = hashlib.sha1(f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:8]
    return f"{file.stem}-{digest}"


def list_models(root=None) -> list[Path]:
    """Folders under ``models/`` (or ``root``) that hold a saved model, newest first; demo last."""
    root = Path(root) if root else models_root()
    if not root.is_dir():
        return []
    folders = [p for p in root.iterdir()
               if p.is_dir() and not p.name.startswith(".") and any((p / f).is_file() for f in _MODEL_FILES)]

    def newest(folder):
        return max((folder / f).stat().st_mtime for f in _MODEL_FILES if (folder / f).is_file())

    folders.sort(key=lambda p: (p.name == "demo", -newest(p)))
    return folders


class Predictor:
    """P(cell) for uint8 frames, in fixed-shape batches through one ``tf.function``.

    ``calls`` counts network calls (batches) so callers and tests can see whether the
    network ran. Frames whose size differs from the model's input are resized on the way in
    and the probabilities resized back.
    """

    def __init__(self, model, *, batch_size: int = DEFAULT_BATCH_SIZE):
        import tensorflow as tf

        self.model = model
        self.batch_size = max(1, int(batch_size))
        self.calls = 0
        shape = model.inputs[0].shape
        self.input_hw = (shape[1], shape[2]) if shape[1] is not None and shape[2] is not None else None
        self._tf = tf
        self._forward = {}

    @classmethod
    def load(cls, path, *, batch_size: int = DEFAULT_BATCH_SIZE) -> "Predictor":
        """A predictor for the model saved at ``path`` (file or run/model folder)."""
        from blasto.model.unet import load_model

        return cls(load_model(path), batch_size=batch_size)

    def _compiled(self, height: int, width: int):
        key = (height, width)
        if key not in self._forward:
            tf, model, target = self._tf, self.model, self.input_hw

            @tf.function(input_signature=[tf.TensorSpec((self.batch_size, height, width), tf.uint8)])
            def forward(frames):
                x = tf.cast(frames, tf.float32)[..., None] / 255.0
                if target is not None and tuple(target) != (height, width):
                    x = tf.image.resize(x, target, method="bilinear")
                p = tf.cast(model(x, training=False), tf.float32)
                if target is not None and tuple(target) != (height, width):
                    p = tf.image.resize(p, (height, width), method="bilinear")
                return tf.cast(tf.round(tf.clip_by_value(p[..., 0], 0.0, 1.0) * 255.0), tf.uint8)

            self._forward[key] = forward
        return self._forward[key]

    def __call__(self, frames: np.ndarray, *, progress=None) -> np.ndarray:
        """Probabilities * 255 as uint8, shape of ``frames`` ((T, H, W) or (H, W)).

        ``progress(done, total)`` is called after each batch.
        """
        frames = np.asarray(frames)
        single = frames.ndim == 2
        if single:
            frames = frames[None]
        if frames.ndim != 3:
            raise BlastoError(f"Expected frames (T, H, W), got shape {frames.shape}.")
        if frames.dtype != np.uint8:
            frames = np.clip(frames, 0, 255).astype(np.uint8)
        total, height, width = frames.shape
        forward = self._compiled(height, width)
        out = np.empty((total, height, width), np.uint8)
        batch = np.zeros((self.batch_size, height, width), np.uint8)
        for start in range(0, total, self.batch_size):
            chunk = frames[start:start + self.batch_size]
            batch[:len(chunk)] = chunk
            batch[len(chunk):] = 0  # the last batch is padded to keep one fixed shape
            result = forward(self._tf.constant(batch)).numpy()
            self.calls += 1
            out[start:start + len(chunk)] = result[:len(chunk)]
            if progress:
                progress(start + len(chunk), total)
        return out[0] if single else out


# -- the cache ------------------------------------------------------------------------------
def cache_dir(experiment, model: str) -> Path:
    """Folder of one model's cached predictions in an experiment."""
    return experiment.path / "predictions" / model


def cache_path(experiment, model: str, pool: int) -> Path:
    """predictions/<model_id>/poolNN.npy"""
    return cache_dir(experiment, model) / f"pool{int(pool):02d}.npy"


def _stamp(path: Path) -> dict:
    stat = Path(path).stat()
    return {"file": Path(path).name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _provenance(experiment, model_path, pool) -> dict:
    return {"model": _stamp(model_file(model_path)),
            "movie": _stamp(experiment.pool_movie_path(pool))}


def read_cached(experiment, model_path, pool: int) -> np.ndarray | None:
    """The cached probabilities of ``pool`` (read-only memory map), or None if absent or stale."""
    path = cache_path(experiment, model_id(model_path), pool)
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
    path = cache_path(experiment, model_id(model_path), pool)
    atomic.write_npy(path, probabilities)
    atomic.write_json(path.with_suffix(".json"), {
        "pool": int(pool), "model_path": str(model_path), "provenance": provenance,
        "shape": list(probabilities.shape),
    })
    return np.load(path, mmap_mode="r")


def predict_pools(experiment, *, model_path, pools=None, predictor=None, progress=None,
                  overwrite: bool = False, batch_size: int = DEFAULT_BATCH_SIZE) -> dict[int, np.ndarray]:
    """Predict (or read from the cache) several pools; the model is loaded at most once.

    ``pools`` defaults to all pools. ``progress(done_frames, total_frames, pool)`` follows
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
                predictor = Predictor.load(model_path, batch_size=batch_size)
            results[pool] = _predict_and_cache(experiment, pool, model_path=model_path, predictor=predictor,
                                               progress=report)
        done += lengths[pool]
    return results


def delete_predictions(experiment, model_path=None) -> None:
    """Forget cached predictions: of one model, or of all models."""
    import shutil

    folder = cache_dir(experiment, model_id(model_path)) if model_path else experiment.path / "predictions"
    if folder.is_dir():
        shutil.rmtree(folder)
