"""Training and validation frames of an experiment, and their ``tf.data`` pipelines.

Training frames are the annotated frames of the experiment's training pools (cleaned pool
movie + saved mask) plus the imported pairs on the train side; validation frames are those
of the validation pools plus the imported validation pairs. The split is by pool, never by
frame, and the two sides are never mixed.

The frames are small (a few hundred 256x256 uint8 images), so they are held in memory and
cached by ``tf.data``; augmentation runs in a parallel map and batches are prefetched, so the
model never waits for data. Validation frames are only scaled, by the one inference path
(:class:`blasto.model.inference.Predictor`, see :class:`blasto.train.callbacks.ValidationScores`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from blasto.train.augment import AugmentConfig, augment_batch
from blasto.errors import MaskError, TrainingError
from blasto.store.manifest import SIDES


@dataclasses.dataclass
class FrameSet:
    """Annotated frames of one side: images (N, H, W) uint8, masks (N, H, W) bool, and where
    each frame comes from (``"pool 3, frame 15"`` or the imported file name)."""

    side: str
    images: np.ndarray
    masks: np.ndarray
    sources: list[str]

    def __len__(self):
        return len(self.images)


def collect_frames(experiment, side: str) -> FrameSet:
    """All annotated frames of ``side`` ("train" or "validation") of an experiment."""
    if side not in SIDES:
        raise TrainingError(f"Unknown side {side!r}: use 'train' or 'validation'.")
    images, masks, sources = [], [], []
    for pool in experiment.manifest.split.pools(side):
        frames = experiment.annotated_frames(pool)
        if not frames:
            continue
        movie = experiment.read_pool_movie(pool)
        for frame in frames:
            if frame >= len(movie):
                raise MaskError(
                    f"{experiment.mask_path(pool, frame)}: pool {pool} has only {len(movie)} "
                    f"frames, so there is no frame {frame} to pair this mask with."
                )
            images.append(np.asarray(movie[frame], np.uint8))
            masks.append(experiment.read_mask(pool, frame))
            sources.append(f"pool {pool}, frame {frame}")
    for image_path, mask_path in experiment.imported_pairs(side):
        image, mask = experiment.read_imported_pair(image_path, mask_path)
        images.append(image)
        masks.append(mask)
        sources.append(f"imported {image_path.name}")
    _check_shapes(experiment, side, images, masks, sources)
    if not images:
        size = experiment.size
        return FrameSet(side, np.zeros((0, size, size), np.uint8), np.zeros((0, size, size), bool), [])
    return FrameSet(side, np.stack(images), np.stack(masks), sources)


def _check_shapes(experiment, side, images, masks, sources):
    for image, mask, source in zip(images, masks, sources):
        if image.shape != mask.shape:
            raise MaskError(
                f"Experiment {experiment.name!r}, {source}: the image is "
                f"{image.shape[1]}x{image.shape[0]} but its mask is {mask.shape[1]}x{mask.shape[0]}."
            )
        if image.shape != images[0].shape:
            raise MaskError(
                f"Experiment {experiment.name!r}, {source}: {image.shape[1]}x{image.shape[0]} "
                f"pixels, but {sources[0]} is {images[0].shape[1]}x{images[0].shape[0]}; "
                f"all {side} frames must have one size."
            )


def training_frames(experiment) -> tuple[FrameSet, FrameSet]:
    """(train, validation) frame sets, or :class:`TrainingError` saying why training can't start."""
    train, validation = collect_frames(experiment, "train"), collect_frames(experiment, "validation")
    split = experiment.manifest.split
    for frames in (train, validation):
        if not len(frames):
            pools = split.pools(frames.side)
            where = f"pools {_pool_list(pools)}" if pools else "no pools on that side"
            raise TrainingError(
                f"Experiment {experiment.name!r} has no annotated frame on the {frames.side} side "
                f"({where}): annotate some frames of those pools on the Annotate page, or import "
                "the lab's masks, before training."
            )
    if train.images.shape[1:] != validation.images.shape[1:]:
        raise TrainingError(
            f"Experiment {experiment.name!r}: training frames are {train.images.shape[2]}x"
            f"{train.images.shape[1]} but validation frames are {validation.images.shape[2]}x"
            f"{validation.images.shape[1]}."
        )
    if not train.masks.any():
        everywhere = "" if validation.masks.any() else " or validation"
        raise TrainingError(
            f"Experiment {experiment.name!r}: every mask of the training{everywhere} frames is "
            "empty (no cell drawn), so there is nothing to learn. Draw the cells first."
        )
    size = train.images.shape[1]
    if train.images.shape[1] != train.images.shape[2] or size % 16:
        raise TrainingError(
            f"Experiment {experiment.name!r}: frames are {train.images.shape[2]}x{size}; the U-Net "
            "needs square frames whose size is divisible by 16."
        )
    return train, validation


def _pool_list(pools) -> str:
    """'1-11' for a run of pool numbers, else a comma list.

    >>> _pool_list([1, 2, 3, 4]), _pool_list([12, 14])
    ('1-4', '12, 14')
    """
    pools = sorted(pools)
    if len(pools) > 2 and pools == list(range(pools[0], pools[-1] + 1)):
        return f"{pools[0]}-{pools[-1]}"
    return ", ".join(str(p) for p in pools)


def _to_model_inputs(images, masks):
    import tensorflow as tf

    images = tf.cast(images, tf.float32)[..., None] / 255.0
    masks = tf.cast(masks, tf.float32)[..., None]
    return images, masks


def training_dataset(frames: FrameSet, *, batch_size=1, augment: AugmentConfig | None = None,
                     seed=0):
    """An endless, shuffled, augmented, batched and prefetched ``tf.data.Dataset`` of
    ``(image, mask)`` float32 ``(B, H, W, 1)`` batches."""
    import tensorflow as tf

    augment = augment if augment is not None else AugmentConfig()
    autotune = tf.data.AUTOTUNE
    base = tf.constant(int(seed), tf.int64)

    def warp(index, pair):
        images, masks = _to_model_inputs(*pair)
        return augment_batch(images, masks, config=augment, seed=tf.stack([base, index]))

    dataset = tf.data.Dataset.from_tensor_slices((frames.images, frames.masks.astype(np.uint8)))
    return (
        dataset.cache()
        .shuffle(len(frames), seed=int(seed), reshuffle_each_iteration=True)
        .repeat()
        .batch(batch_size, drop_remainder=True)
        .enumerate()  # a distinct random seed per batch, reproducible from ``seed``
        .map(warp, num_parallel_calls=autotune)
        .prefetch(autotune)
    )

