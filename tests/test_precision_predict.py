"""Prediction precision: "auto" follows training's measurement, bfloat16 stays within 1/255."""

import numpy as np
import pytest

from blasto.errors import BlastoError
from blasto.model.inference import BFLOAT16_BATCH_SIZE, DEFAULT_BATCH_SIZE, Predictor
from blasto.model.unet import build_unet


@pytest.fixture(scope="module")
def tiny():
    import keras

    keras.utils.set_random_seed(0)
    return build_unet(input_size=32, start_filters=4, dropout=False)


def test_bfloat16_probabilities_within_one_level_of_float32(tiny):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (10, 32, 32), dtype=np.uint8)
    exact = Predictor(tiny, precision="float32")
    fast = Predictor(tiny, precision="bfloat16")
    assert (exact.precision, exact.batch_size) == ("float32", DEFAULT_BATCH_SIZE)
    assert (fast.precision, fast.batch_size) == ("bfloat16", BFLOAT16_BATCH_SIZE)
    assert fast.model is not tiny and tiny.layers[1].dtype_policy.compute_dtype == "float32"
    difference = np.abs(fast.probabilities(frames) - exact.probabilities(frames))
    assert 0 < difference.max() <= 1 / 255, difference.max()
    assert np.abs(fast(frames).astype(int) - exact(frames).astype(int)).max() <= 1


def test_auto_asks_the_measurement_and_float32_can_be_forced(tiny, monkeypatch):
    faster = Predictor(tiny, precision="auto", choose=lambda: (True, "bf16 measured 4x"))
    assert faster.precision == "bfloat16" and "4x" in faster.describe()
    slower = Predictor(tiny, precision="auto", choose=lambda: (False, "bf16 measured 0.6x"))
    assert slower.precision == "float32" and slower.model is tiny
    monkeypatch.setenv("BLASTO_PREDICT_PRECISION", "bfloat16")
    assert Predictor(tiny).precision == "bfloat16"
    assert Predictor(tiny, precision="float32").precision == "float32"
    with pytest.raises(BlastoError, match="Unknown precision"):
        Predictor(tiny, precision="fp8")
