"""The seed's U-Net: exact size, dropout switch, options, loading saved models, and the one
inference path (Predictor) on them."""

import numpy as np
import pytest

from blasto.errors import TrainingError
from blasto.model.files import load_model
from blasto.model.inference import Predictor
from blasto.model.unet import build_unet
from blasto.train.augment import scale_images


def dropout_rates(model):
    return [layer.rate for layer in model.layers if type(layer).__name__ == "Dropout"]


def test_seed_unet_has_the_seed_parameter_count_and_dropouts():
    model = build_unet()  # 256x256x1, 32 start filters, dropout on
    assert model.count_params() == 8_629_921
    assert model.input_shape == (None, 256, 256, 1)
    assert model.output_shape == (None, 256, 256, 1)
    # 0.25 after the first down block, 0.5 after the other three and in each of the 4 up blocks.
    assert dropout_rates(model) == [0.25] + [0.5] * 7
    assert model.layers[-1].activation.__name__ == "sigmoid"


def test_dropout_off_keeps_the_architecture_without_dropout_layers():
    model = build_unet(input_size=64, start_filters=4, dropout=False)
    assert dropout_rates(model) == []
    assert model.count_params() == build_unet(input_size=64, start_filters=4).count_params()


def test_start_filters_and_input_size_are_options():
    small = build_unet(input_size=32, start_filters=4)
    assert small.input_shape == (None, 32, 32, 1)
    # Parameters scale with the square of the filters (the 1-channel input and output aside).
    assert 8_629_921 / 70 < small.count_params() < 8_629_921 / 50
    assert build_unet(input_size=None, start_filters=4).count_params() == small.count_params()


def test_input_size_must_be_divisible_by_16():
    with pytest.raises(TrainingError, match="divisible by 16"):
        build_unet(input_size=250)


def test_mixed_precision_keeps_float32_weights_and_output():
    model = build_unet(input_size=32, start_filters=4, mixed_precision=True)
    assert model.count_params() == build_unet(input_size=32, start_filters=4).count_params()
    assert all(w.dtype == "float32" for w in model.weights)
    out = model(scale_images(np.zeros((1, 32, 32), np.uint8)))
    assert out.dtype.name == "float32"


def test_saved_model_loads_from_file_or_run_folder(tmp_path):
    model = build_unet(input_size=32, start_filters=4)
    model.save(tmp_path / "best.keras")
    frames = np.random.default_rng(0).integers(0, 255, (3, 32, 32), dtype=np.uint8)
    expected = Predictor(model).probabilities(frames)
    assert expected.shape == (3, 32, 32) and expected.dtype == np.float32
    assert 0.0 <= expected.min() and expected.max() <= 1.0
    for path in (tmp_path, tmp_path / "best.keras"):
        loaded = load_model(path)
        np.testing.assert_allclose(Predictor(loaded, batch_size=2).probabilities(frames), expected, atol=1e-6)


def test_load_model_refusals_name_the_path(tmp_path):
    with pytest.raises(TrainingError, match="no saved model in this folder"):
        load_model(tmp_path)
    with pytest.raises(TrainingError, match="no such model"):
        load_model(tmp_path / "nothing.keras")
    torn = tmp_path / "torn.keras"
    torn.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(TrainingError, match="torn.keras: cannot load the model"):
        load_model(torn)


def test_starting_weights_are_options_the_architecture_is_not():
    seed_like = build_unet(input_size=32, start_filters=4, kernel_initializer="glorot_uniform",
                           zero_mean_first_layer=False)
    blasto = build_unet(input_size=32, start_filters=4, output_bias=-2.0)
    assert seed_like.count_params() == blasto.count_params()
    assert [type(l).__name__ for l in seed_like.layers] == [type(l).__name__ for l in blasto.layers]
    assert blasto.get_layer("p_cell").bias.numpy().tolist() == [-2.0]
    convs = [l for l in blasto.layers if type(l).__name__.startswith("Conv2D") and l.name != "p_cell"]
    assert {type(l.kernel_initializer).__name__ for l in convs} == {"HeNormal"}
    # The first layer starts blind to the gray level: each kernel sums to zero.
    first = blasto.layers[1].kernel.numpy()
    assert np.abs(first.sum(axis=(0, 1, 2))).max() < 1e-5
    assert np.abs(seed_like.layers[1].kernel.numpy().sum(axis=(0, 1, 2))).max() > 1e-3
