"""The parts of a training recipe that become Keras objects: the optimizer with its learning-rate
schedule, the loss, and the U-Net's starting weights.

Keras is imported inside the functions, so ``import blasto.train.recipe`` stays cheap.
"""

from __future__ import annotations

import math

import numpy as np

from blasto.train.config import TrainConfig


def make_optimizer(config: TrainConfig):
    """The optimizer with its learning-rate schedule (cosine decay, optional warm-up)."""
    import keras

    rate = float(config.learning_rate)
    if config.lr_schedule == "cosine":
        if config.warmup_steps:
            rate = keras.optimizers.schedules.CosineDecay(
                0.0, config.total_steps - config.warmup_steps, alpha=0.0,
                warmup_target=rate, warmup_steps=config.warmup_steps)
        else:
            rate = keras.optimizers.schedules.CosineDecay(rate, config.total_steps, alpha=0.0)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=rate)
    return keras.optimizers.RMSprop(learning_rate=rate)


def make_loss(name: str):
    """The training loss: "bce" (the seed's) or "bce_dice" (BCE plus soft Dice loss).

    Both are per-frame means (so a validation loss over frames is their mean); the Dice term
    rewards confident, well-placed probabilities, which threshold 0.8 needs.
    """
    from keras import ops

    def bce(y_true, y_pred):
        y_pred = ops.clip(ops.cast(y_pred, "float32"), 1e-7, 1.0 - 1e-7)
        pixels = -(y_true * ops.log(y_pred) + (1.0 - y_true) * ops.log(1.0 - y_pred))
        return ops.mean(pixels, axis=(1, 2, 3))

    def bce_dice(y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        overlap = ops.sum(y_true * y_pred, axis=(1, 2, 3))
        total = ops.sum(y_true, axis=(1, 2, 3)) + ops.sum(y_pred, axis=(1, 2, 3))
        return bce(y_true, y_pred) + 1.0 - (2.0 * overlap + 1.0) / (total + 1.0)

    return {"bce": bce, "bce_dice": bce_dice}[name]


def init_options(config: TrainConfig, train_masks: np.ndarray) -> dict:
    """build_unet's starting-weight options for ``config.init``.

    >>> init_options(TrainConfig(experiment="demo", init="keras"), np.zeros(4, bool))
    {'kernel_initializer': 'glorot_uniform', 'zero_mean_first_layer': False}
    """
    if config.init == "keras":
        return {"kernel_initializer": "glorot_uniform", "zero_mean_first_layer": False}
    return {"kernel_initializer": "he_normal", "zero_mean_first_layer": True,
            "output_bias": prior_logit(train_masks)}


def prior_logit(masks: np.ndarray) -> float:
    """logit of the fraction of cell pixels (clipped away from 0 and 1).

    >>> round(prior_logit(np.array([True, False, False, False])), 3)
    -1.099
    """
    fraction = min(max(float(np.mean(masks)), 1e-3), 1 - 1e-3)
    return math.log(fraction / (1 - fraction))
