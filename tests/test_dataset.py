"""Training and validation frames: split by pool, imported pairs on their side, refusals, the
training tf.data pipeline, and what validation sees."""

import numpy as np
import pytest

from blasto.train.augment import AugmentConfig
from blasto.train.dataset import collect_frames, training_dataset, training_frames
from blasto.errors import TrainingError
from synthetic import disc, tiny_experiment


def test_frames_come_from_their_side_only(roots):
    experiment = tiny_experiment(pools=4, frames=6, every=2, validation=1)
    train, validation = training_frames(experiment)
    assert len(train) == 3 * 3 and len(validation) == 3
    assert all(not s.startswith("pool 4,") for s in train.sources)
    assert all(s.startswith("pool 4,") for s in validation.sources)
    # Each image is the pool movie's frame, each mask the saved mask.
    movie = experiment.read_pool_movie(2)
    index = train.sources.index("pool 2, frame 4")
    np.testing.assert_array_equal(train.images[index], movie[4])
    np.testing.assert_array_equal(train.masks[index], experiment.read_mask(2, 4))
    assert train.images.dtype == np.uint8 and train.masks.dtype == bool


def test_imported_pairs_join_their_own_side(roots):
    experiment = tiny_experiment(pools=3, frames=4, every=2, validation=1)
    cell = disc(32, (16, 16), 6)
    experiment.write_imported_pair("train", 0, np.where(cell, 60, 200).astype(np.uint8), cell)
    experiment.write_imported_pair("validation", 0, np.full((32, 32), 200, np.uint8), ~cell)
    train, validation = training_frames(experiment)
    assert train.sources[-1] == "imported image0000.png" and len(train) == 2 * 2 + 1
    np.testing.assert_array_equal(train.masks[-1], cell)
    assert validation.sources[-1] == "imported image0000.png" and len(validation) == 2 + 1
    np.testing.assert_array_equal(validation.masks[-1], ~cell)


def test_refuses_without_annotated_validation_frames(roots):
    experiment = tiny_experiment(pools=3, frames=4, every=2, validation=1)
    for frame in experiment.annotated_frames(3):
        experiment.delete_mask(3, frame)
    with pytest.raises(TrainingError, match=r"no annotated frame on the validation side \(pools 3\)"):
        training_frames(experiment)


def test_refuses_without_annotated_training_frames(roots):
    experiment = tiny_experiment(pools=3, frames=4, every=2, validation=1)
    experiment.set_split([], [1, 2, 3])
    with pytest.raises(TrainingError, match="no annotated frame on the train side"):
        training_frames(experiment)


def test_refuses_when_every_mask_is_empty(roots):
    experiment = tiny_experiment(pools=3, frames=4, every=2, validation=1, empty_masks=True)
    with pytest.raises(TrainingError, match="every mask of the training or validation frames is empty"):
        training_frames(experiment)


def test_refuses_imported_pairs_of_another_size(roots):
    experiment = tiny_experiment(pools=2, frames=2, every=1, validation=1)
    experiment.write_imported_pair("train", 0, np.zeros((48, 48), np.uint8), np.ones((48, 48), bool))
    with pytest.raises(Exception, match="imported image0000.png: 48x48 pixels"):
        collect_frames(experiment, "train")


def test_training_pipeline_is_endless_scaled_binary_and_batched(roots):
    experiment = tiny_experiment(pools=3, frames=4, every=2, validation=1)
    train, _ = training_frames(experiment)
    dataset = training_dataset(train, batch_size=3, augment=AugmentConfig(), seed=1)
    batches = list(dataset.take(2 * len(train)))  # more batches than frames: it repeats
    assert len(batches) == 2 * len(train)
    for images, masks in batches[:3]:
        assert images.shape == (3, 32, 32, 1) and masks.shape == (3, 32, 32, 1)
        assert images.dtype.name == masks.dtype.name == "float32"
        assert 0.0 <= float(images.numpy().min()) and float(images.numpy().max()) <= 1.0
        assert set(np.unique(masks.numpy())) <= {0.0, 1.0}
    # Reproducible from the seed.
    again = next(iter(training_dataset(train, batch_size=3, augment=AugmentConfig(), seed=1)))
    np.testing.assert_array_equal(again[0].numpy(), batches[0][0].numpy())


def test_validation_frames_are_only_scaled_and_in_order(roots):
    """Validation during training runs the one inference path (Predictor) on the validation
    frames as they are: in order, not augmented, scaled by 1/255."""
    import keras

    from blasto.model.inference import Predictor

    experiment = tiny_experiment(pools=3, frames=4, every=2, validation=1)
    _, validation = training_frames(experiment)
    assert validation.sources == ["pool 3, frame 0", "pool 3, frame 2"]
    np.testing.assert_array_equal(validation.images, experiment.read_pool_movie(3)[[0, 2]])
    image = keras.Input((32, 32, 1))
    identity = keras.Model(image, image)  # returns what the model is given
    seen = Predictor(identity).probabilities(validation.images)
    np.testing.assert_allclose(seen, validation.images / 255.0, atol=1e-7)
