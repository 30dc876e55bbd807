"""Paired augmentation: image and mask move together pixel-exactly; masks stay binary."""

import dataclasses

import numpy as np
import pytest

from blasto.train.augment import REAL_SHEAR_DEG, SEED_SHEAR_DEG, AugmentConfig, augment_arrays
from blasto.errors import TrainingError

STILL = dict(rotation_deg=0, width_shift=0, height_shift=0, shear_deg=0, zoom=0,
             horizontal_flip=False)


def textured(n=6, size=48, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size), dtype=np.uint8)


@pytest.mark.parametrize("fill_mode", ["nearest", "reflect", "constant"])
def test_image_and_mask_stay_aligned_pixel_exactly(fill_mode):
    images = textured()
    threshold = 120
    # Nearest interpolation samples one source pixel for both, so the relation mask = image > t
    # must survive the warp exactly, pixel by pixel, whatever the random transform.
    config = AugmentConfig(interpolation="nearest", fill_mode=fill_mode, shear_deg=REAL_SHEAR_DEG,
                           zoom=0.2, vertical_flip=True)
    for seed in range(3):
        warped, masks = augment_arrays(images, images > threshold, config=config, seed=seed)
        assert not np.array_equal(warped, images / 255.0)  # it did move
        np.testing.assert_array_equal(masks, np.round(warped * 255) > threshold)


def test_masks_stay_binary_with_bilinear_images():
    images = textured()
    warped, masks = augment_arrays(images, images > 120, seed=1)
    assert masks.dtype == bool
    assert warped.dtype == np.float32 and 0.0 <= warped.min() and warped.max() <= 1.0
    # Bilinear interpolation gives in-between gray levels in the image only.
    assert len(np.unique(np.round(warped * 255))) > 200


def test_same_seed_same_warp_other_seed_other_warp():
    images = textured()
    first = augment_arrays(images, images > 100, seed=7)[0]
    np.testing.assert_array_equal(first, augment_arrays(images, images > 100, seed=7)[0])
    assert not np.array_equal(first, augment_arrays(images, images > 100, seed=8)[0])


def test_no_transform_is_exact_scaling_only():
    images = textured()
    warped, masks = augment_arrays(images, images > 100, config=AugmentConfig(**STILL))
    np.testing.assert_allclose(warped, images / 255.0, atol=1e-6)
    np.testing.assert_array_equal(masks, images > 100)


def test_horizontal_flip_mirrors_half_the_time():
    images = textured(n=16)
    config = AugmentConfig(**{**STILL, "horizontal_flip": True}, interpolation="nearest")
    warped = np.round(augment_arrays(images, images > 0, config=config, seed=3)[0] * 255)
    flipped = [np.array_equal(w, i[:, ::-1]) for w, i in zip(warped, images)]
    kept = [np.array_equal(w, i) for w, i in zip(warped, images)]
    assert all(f != k for f, k in zip(flipped, kept))
    assert 0 < sum(flipped) < len(images)


def test_seed_shear_is_practically_none_and_the_real_shear_is_not():
    image = np.zeros((1, 64, 64), np.uint8)
    image[0, :, 28:36] = 255  # a vertical bar: shear tilts it
    def moved(shear):
        config = AugmentConfig(**{**STILL, "shear_deg": shear})
        warped = augment_arrays(image, image > 0, config=config, seed=0)[1]
        return (warped != (image > 0)).sum()
    assert SEED_SHEAR_DEG == 0.2 and moved(SEED_SHEAR_DEG) <= 8
    assert moved(REAL_SHEAR_DEG) > 50


def test_rotation_keeps_the_cell_area_roughly():
    yy, xx = np.mgrid[:64, :64]
    cell = (yy - 32) ** 2 + (xx - 30) ** 2 <= 12**2
    image = np.where(cell, 60, 180).astype(np.uint8)[None]
    config = AugmentConfig(width_shift=0, height_shift=0)
    for seed in range(4):
        _, mask = augment_arrays(image, cell[None], config=config, seed=seed)
        assert abs(int(mask.sum()) - int(cell.sum())) < 0.05 * cell.sum()


def test_config_round_trips_and_refuses_nonsense():
    config = AugmentConfig(shear_deg=REAL_SHEAR_DEG, fill_mode="reflect")
    assert AugmentConfig.from_dict(config.to_dict()) == config
    assert dataclasses.asdict(AugmentConfig.seed_preset())["shear_deg"] == SEED_SHEAR_DEG
    with pytest.raises(TrainingError, match="fill mode"):
        AugmentConfig(fill_mode="mirror")
    with pytest.raises(TrainingError, match="Unknown augmentation settings: colour"):
        AugmentConfig.from_dict({"colour": 1})
    with pytest.raises(TrainingError, match="must not be negative"):
        AugmentConfig(rotation_deg=-1)
