"""THE inference path: P(cell) for uint8 frames, the one way every part of blasto runs a model
(validation during training, ``evaluate``, the Train page's preview, Review and ``predict``).

:class:`Predictor` runs the network in batches of one fixed shape through one ``tf.function``
per frame size (one trace, no per-call Keras overhead: several times faster than
``model.predict`` per frame). Frames are scaled to [0, 1] (uint8 / 255) on the way in.

**Precision.** ``precision="auto"`` (the default) predicts in whichever of float32 and bfloat16
this machine runs faster, as training's "auto" does (:mod:`blasto.train.number_format`: measured
once per machine, remembered in the user's cache folder). bfloat16 computes every layer but the
sigmoid output in bfloat16 (weights stay float32): on CPUs with AMX it predicts about 4x faster
(58 against 14 frames/s at batch 8), and probabilities differ from float32's by at most 1/255
(tested). ``precision="float32"`` forces float32; ``BLASTO_PREDICT_PRECISION`` sets the default
(the tests set float32).

TensorFlow is imported when a Predictor is made, so ``import blasto.model.inference`` stays cheap.
"""

from __future__ import annotations

import os

import numpy as np

from blasto.errors import BlastoError

#: Frames per network call in float32. 4 is at or near the best throughput on this 2-core CPU
#: (see bench/bench_predict.py); larger batches only cost memory.
DEFAULT_BATCH_SIZE = 4
#: Frames per network call in bfloat16 (AMX and GPUs run larger batches better).
BFLOAT16_BATCH_SIZE = 8
PRECISIONS = ("auto", "float32", "bfloat16")
#: Environment variable that sets the default precision ("auto" when unset).
PRECISION_ENV = "BLASTO_PREDICT_PRECISION"


def default_precision() -> str:
    """``$BLASTO_PREDICT_PRECISION`` or "auto"."""
    value = os.environ.get(PRECISION_ENV, "auto").strip().lower() or "auto"
    return check_precision(value)


def check_precision(precision: str) -> str:
    """``precision`` if it is one of PRECISIONS, else a BlastoError.

    >>> check_precision("float32")
    'float32'
    """
    if precision not in PRECISIONS:
        raise BlastoError(f"Unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}.")
    return precision


def resolve_precision(precision: str | None = None, *, choose=None) -> tuple[str, str]:
    """(``"float32"`` or ``"bfloat16"``, why): "auto" asks training's measurement
    (``choose() -> (use bfloat16?, reason)``, default
    :func:`blasto.train.number_format.choose_mixed_precision`).

    >>> resolve_precision("float32")
    ('float32', 'float32: asked for')
    >>> resolve_precision("auto", choose=lambda: (True, "measured 3x"))
    ('bfloat16', 'measured 3x')
    """
    precision = check_precision(precision or default_precision())
    if precision != "auto":
        return precision, f"{precision}: asked for"
    if choose is None:
        from blasto.train.number_format import choose_mixed_precision as choose
    mixed, reason = choose()
    return ("bfloat16" if mixed else "float32"), reason


def bfloat16_twin(model):
    """A copy of ``model`` computing in bfloat16 (Keras "mixed_bfloat16": float32 weights), its
    output layer kept in float32 so the probabilities keep their resolution."""
    import keras

    last = model.layers[-1].name

    def clone(layer):
        config = layer.get_config()
        if layer.name != last and not isinstance(layer, keras.layers.InputLayer):
            config["dtype"] = "mixed_bfloat16"
        return layer.__class__.from_config(config)

    twin = keras.models.clone_model(model, clone_function=clone)
    twin.set_weights(model.get_weights())
    return twin


class Predictor:
    """P(cell) for uint8 frames ``(T, H, W)`` or one frame ``(H, W)``.

    :meth:`probabilities` gives float32 in [0, 1]; calling the predictor gives the prediction
    cache's uint8 (P x 255, rounded). ``calls`` counts network calls (batches) so callers and
    tests can see whether the network ran. Frames whose size differs from the model's input
    are resized on the way in and the probabilities resized back.
    """

    def __init__(self, model, *, batch_size: int | None = None, precision: str | None = None, choose=None):
        import tensorflow as tf

        self.precision, self.precision_reason = resolve_precision(precision, choose=choose)
        if self.precision == "bfloat16" and not _computes_in_bfloat16(model):
            model = bfloat16_twin(model)
        self.model = model
        if batch_size is None:
            batch_size = BFLOAT16_BATCH_SIZE if self.precision == "bfloat16" else DEFAULT_BATCH_SIZE
        self.batch_size = max(1, int(batch_size))
        self.calls = 0
        shape = model.inputs[0].shape
        self.input_hw = (shape[1], shape[2]) if shape[1] is not None and shape[2] is not None else None
        self._tf = tf
        self._forward = {}

    @classmethod
    def load(cls, path, *, batch_size: int | None = None, precision: str | None = None) -> "Predictor":
        """A predictor for the model saved at ``path`` (file or run/model folder)."""
        from blasto.model.files import load_model

        return cls(load_model(path), batch_size=batch_size, precision=precision)

    def describe(self) -> str:
        """One line: precision and batch size, and why that precision."""
        return f"{self.precision}, batch {self.batch_size} ({self.precision_reason})"

    def _compiled(self, height: int, width: int):
        key = (height, width)
        if key not in self._forward:
            tf, model, target = self._tf, self.model, self.input_hw
            resize = target is not None and tuple(target) != (height, width)

            @tf.function(input_signature=[tf.TensorSpec((self.batch_size, height, width), tf.uint8)])
            def forward(frames):
                x = tf.cast(frames, tf.float32)[..., None] / 255.0
                if resize:
                    x = tf.image.resize(x, target, method="bilinear")
                p = tf.cast(model(x, training=False), tf.float32)
                if resize:
                    p = tf.image.resize(p, (height, width), method="bilinear")
                return tf.clip_by_value(p[..., 0], 0.0, 1.0)

            self._forward[key] = forward
        return self._forward[key]

    def _run(self, frames, *, dtype, convert, progress) -> np.ndarray:
        """An array of ``dtype`` filled batch by batch with ``convert(P(cell) of the batch)``."""
        frames, single = _as_stack(frames)
        out = np.empty(frames.shape, dtype)
        total, height, width = frames.shape
        forward = self._compiled(height, width)
        batch = np.zeros((self.batch_size, height, width), np.uint8)
        for start in range(0, total, self.batch_size):
            chunk = frames[start:start + self.batch_size]
            batch[:len(chunk)] = chunk
            batch[len(chunk):] = 0  # the last batch is padded to keep one fixed shape
            result = forward(self._tf.constant(batch)).numpy()
            self.calls += 1
            out[start:start + len(chunk)] = convert(result[:len(chunk)])
            if progress:
                progress(start + len(chunk), total)
        return out[0] if single else out

    def probabilities(self, frames: np.ndarray, *, progress=None) -> np.ndarray:
        """P(cell) as float32 in [0, 1], shape of ``frames``.

        ``progress(done, total)`` is called after each batch.
        """
        return self._run(frames, dtype=np.float32, convert=lambda p: p, progress=progress)

    def __call__(self, frames: np.ndarray, *, progress=None) -> np.ndarray:
        """P(cell) x 255 as uint8 (the prediction cache's format), shape of ``frames``.

        ``progress(done, total)`` is called after each batch.
        """
        return self._run(frames, dtype=np.uint8, convert=to_uint8, progress=progress)


def _computes_in_bfloat16(model) -> bool:
    """Whether ``model`` was built in mixed bfloat16 already (a run trained in bfloat16)."""
    for layer in model.layers:
        policy = getattr(layer, "dtype_policy", None)
        if policy is not None and getattr(policy, "compute_dtype", None) == "bfloat16":
            return True
    return False


def to_uint8(probabilities: np.ndarray) -> np.ndarray:
    """P(cell) in [0, 1] -> round(P x 255) as uint8.

    >>> to_uint8(np.array([0.0, 0.5, 1.0], np.float32)).tolist()
    [0, 128, 255]
    """
    return np.round(np.asarray(probabilities, np.float32) * 255.0).astype(np.uint8)


def _as_stack(frames) -> tuple[np.ndarray, bool]:
    """``frames`` as a uint8 (T, H, W) stack, and whether it was one (H, W) frame."""
    frames = np.asarray(frames)
    single = frames.ndim == 2
    if single:
        frames = frames[None]
    if frames.ndim != 3:
        raise BlastoError(f"Expected frames (T, H, W), got shape {frames.shape}.")
    if frames.dtype != np.uint8:
        frames = np.clip(frames, 0, 255).astype(np.uint8)
    return frames, single
