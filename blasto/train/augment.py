"""Paired augmentation of images and masks: one random affine warp for both.

The seed used two Keras ``ImageDataGenerator`` flows with the same random seed, one for the
images and one for the masks. blasto stacks image and mask on the channel axis and warps the
stack with a single ``ImageProjectiveTransformV3`` call, so both move together pixel-exactly,
inside ``tf.data`` (parallel, prefetched). Masks are thresholded at 0.5 after the warp, so they
stay binary.

The random transform follows the legacy ``ImageDataGenerator.random_transform``: rotation
uniform in ±``rotation_deg``, shifts uniform in ±``width_shift``/``height_shift`` of the
width/height, shear uniform in ±``shear_deg`` (degrees, as Keras read the seed's
``shear_range=0.2``: practically no shear; :data:`REAL_SHEAR_DEG` is a real 0.2 rad), zoom
uniform in 1 ± ``zoom`` per axis, a horizontal flip half the time, and points outside the
image filled by ``fill_mode`` ("nearest", the generator's default).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from blasto.errors import TrainingError

#: The seed's ``shear_range=0.2`` meant 0.2 degrees to Keras.
SEED_SHEAR_DEG = 0.2
#: A real shear of 0.2 radians, in degrees (what the seed probably meant).
REAL_SHEAR_DEG = math.degrees(0.2)
FILL_MODES = ("nearest", "reflect", "wrap", "constant")
INTERPOLATIONS = ("bilinear", "nearest")


def dataclass_from_dict(cls, values: dict | None, *, what: str):
    """Build the dataclass ``cls`` from ``values``, refusing unknown keys (a typo in a config
    file must not be silently ignored).

    >>> dataclass_from_dict(AugmentConfig, {"zoom": 0.1}, what="augmentation").zoom
    0.1
    """
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise TrainingError(f"Unknown {what} settings: {', '.join(unknown)}.")
    return cls(**values)


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Settings of the paired augmentation (each one shown and editable on the Train page).

    Checked once, when made, and frozen: change a setting with ``dataclasses.replace``.
    """

    enabled: bool = True
    rotation_deg: float = 180.0
    width_shift: float = 0.2  # fraction of the width
    height_shift: float = 0.2  # fraction of the height
    shear_deg: float = SEED_SHEAR_DEG
    zoom: float = 0.01  # zoom factor drawn in [1 - zoom, 1 + zoom] per axis
    horizontal_flip: bool = True
    vertical_flip: bool = False
    fill_mode: str = "nearest"
    # "bilinear" for training; "nearest" makes image and mask sample the very same pixels.
    interpolation: str = "bilinear"

    def __post_init__(self):
        self._check()

    def _check(self) -> None:
        """Raise :class:`TrainingError` for settings that make no sense."""
        if self.fill_mode not in FILL_MODES:
            raise TrainingError(f"Augmentation fill mode {self.fill_mode!r}: use one of {FILL_MODES}.")
        if self.interpolation not in INTERPOLATIONS:
            raise TrainingError(
                f"Augmentation interpolation {self.interpolation!r}: use one of {INTERPOLATIONS}."
            )
        for name in ("rotation_deg", "width_shift", "height_shift", "shear_deg", "zoom"):
            if getattr(self, name) < 0:
                raise TrainingError(f"Augmentation setting {name} must not be negative.")
        if self.zoom >= 1:
            raise TrainingError("Augmentation zoom must be below 1 (1 ± zoom is the zoom factor).")
        if not 0 <= self.shear_deg < 90:
            raise TrainingError("Augmentation shear must be below 90 degrees.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict | None) -> "AugmentConfig":
        """Build from a dict (e.g. a run's config.json); unknown keys are refused."""
        return dataclass_from_dict(cls, values, what="augmentation")

    @classmethod
    def seed_preset(cls) -> "AugmentConfig":
        """The seed's generator settings (shear 0.2 degrees)."""
        return cls()


def random_transforms(n, height, width, *, config: AugmentConfig, seed):
    """``n`` random affine transforms as the ``(n, 8)`` float32 rows ``ImageProjectiveTransformV3``
    takes (each maps an output pixel to the input pixel it samples).

    ``seed`` is a shape-[2] int tensor for the stateless random ops (same seed, same warps).
    """
    import tensorflow as tf

    u = tf.random.stateless_uniform([n, 7], seed=seed, minval=-1.0, maxval=1.0)
    height_f, width_f = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    theta = u[:, 0] * math.radians(config.rotation_deg)
    tx = u[:, 1] * config.width_shift * width_f
    ty = u[:, 2] * config.height_shift * height_f
    shear = u[:, 3] * math.radians(config.shear_deg)
    zx = 1.0 + u[:, 4] * config.zoom
    zy = 1.0 + u[:, 5] * config.zoom
    flip = u[:, 6] < 0.0  # half the time

    zeros, ones = tf.zeros_like(theta), tf.ones_like(theta)

    def matrix(rows):
        return tf.stack([tf.stack(r, axis=-1) for r in rows], axis=-2)  # (n, 3, 3)

    cos, sin = tf.cos(theta), tf.sin(theta)
    rotation = matrix([[cos, -sin, zeros], [sin, cos, zeros], [zeros, zeros, ones]])
    shift = matrix([[ones, zeros, tx], [zeros, ones, ty], [zeros, zeros, ones]])
    shearing = matrix([[ones, -tf.sin(shear), zeros], [zeros, tf.cos(shear), zeros],
                       [zeros, zeros, ones]])
    zooming = matrix([[zx, zeros, zeros], [zeros, zy, zeros], [zeros, zeros, ones]])
    # The same composition as the legacy generator, about the image centre.
    cx, cy = (width_f - 1.0) / 2.0, (height_f - 1.0) / 2.0
    to_centre = matrix([[ones, zeros, cx + zeros], [zeros, ones, cy + zeros], [zeros, zeros, ones]])
    from_centre = matrix([[ones, zeros, -cx + zeros], [zeros, ones, -cy + zeros], [zeros, zeros, ones]])
    transform = to_centre @ rotation @ shift @ shearing @ zooming @ from_centre
    # Flips act on the warped image, i.e. on output coordinates first.
    if config.horizontal_flip:
        sign = tf.where(flip, -1.0, 1.0)
        offset = tf.where(flip, width_f - 1.0, 0.0)
        transform = transform @ matrix([[sign, zeros, offset], [zeros, ones, zeros],
                                        [zeros, zeros, ones]])
    if config.vertical_flip:
        vflip = tf.random.stateless_uniform([n], seed=seed + 1) < 0.5
        sign = tf.where(vflip, -1.0, 1.0)
        offset = tf.where(vflip, height_f - 1.0, 0.0)
        transform = transform @ matrix([[ones, zeros, zeros], [zeros, sign, offset],
                                        [zeros, zeros, ones]])
    flat = tf.reshape(transform, [n, 9])
    return flat[:, :8] / flat[:, 8:9]


def augment_batch(images, masks, *, config: AugmentConfig, seed):
    """Warp a batch of images and masks with the same random transform per pair.

    ``images``: float32 ``(N, H, W, 1)`` in [0, 1]; ``masks``: float32 ``(N, H, W, 1)`` in
    {0, 1}. Returns both warped; masks thresholded at 0.5 so they stay binary.
    """
    import tensorflow as tf

    if not config.enabled:
        return images, masks
    shape = tf.shape(images)
    n, height, width = shape[0], shape[1], shape[2]
    transforms = random_transforms(n, height, width, config=config, seed=seed)
    stacked = tf.concat([images, masks], axis=-1)  # one warp for both: exact alignment
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=stacked,
        transforms=transforms,
        output_shape=tf.stack([height, width]),
        fill_value=0.0,
        interpolation=config.interpolation.upper(),
        fill_mode=config.fill_mode.upper(),
    )
    warped_images = tf.clip_by_value(warped[..., :1], 0.0, 1.0)
    warped_masks = tf.cast(warped[..., 1:] > 0.5, tf.float32)
    return warped_images, warped_masks


def augment_arrays(images: np.ndarray, masks: np.ndarray, *, config: AugmentConfig | None = None,
                   seed=0) -> tuple[np.ndarray, np.ndarray]:
    """Augment uint8 frames ``(N, H, W)`` and bool masks: float32 images in [0, 1], bool masks.

    For previews and tests; training does the same inside ``tf.data``.

    >>> image = np.zeros((1, 32, 32), np.uint8); image[0, 8:16, 8:16] = 200
    >>> out, mask = augment_arrays(image, image > 100, seed=3)
    >>> out.shape, mask.dtype, bool(mask.any())
    ((1, 32, 32), dtype('bool'), True)
    """
    import tensorflow as tf

    config = config or AugmentConfig()
    images = tf.constant(scale_images(images))
    masks = tf.constant(np.asarray(masks, np.float32)[..., None])
    out_images, out_masks = augment_batch(
        images, masks, config=config, seed=tf.constant([int(seed), 0], tf.int64)
    )
    return out_images.numpy()[..., 0], out_masks.numpy()[..., 0].astype(bool)


def scale_images(frames: np.ndarray) -> np.ndarray:
    """uint8 frames ``(N, H, W)`` -> the model's float32 input ``(N, H, W, 1)`` in [0, 1]
    (what :class:`blasto.model.inference.Predictor` and the training pipeline do in TensorFlow).

    >>> scale_images(np.array([[[0, 255]]], np.uint8)).tolist()
    [[[[0.0], [1.0]]]]
    """
    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[None]
    return (frames.astype(np.float32) / 255.0)[..., None]
