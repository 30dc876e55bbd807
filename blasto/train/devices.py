"""Which devices a run trains on: one, or several through ``tf.distribute.MirroredStrategy``.

More than one GPU visible: the model is mirrored on every one of them; each step trains
``batch_size`` images *per replica* (a step of 2 GPUs at batch 4 trains 8 images), so the
steps per epoch, the schedule and the checkpoints stay those of the run's settings, and the
run folder, Stop and Resume work as with one device. Without GPUs, TensorFlow shows one CPU
device, and training runs on it as it always did; only a process that has split its CPU into
several logical devices (``tf.config.set_logical_device_configuration``: the tests do, so CI
covers the mirrored path without a GPU) trains mirrored on them. ``CUDA_VISIBLE_DEVICES``
chooses the GPUs.

TensorFlow is imported inside :func:`training_devices`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Devices:
    """The devices of a run: their names, and the strategy that mirrors them (None: one device)."""

    names: tuple[str, ...]
    strategy: object | None = None

    @property
    def replicas(self) -> int:
        return len(self.names) if self.strategy is not None else 1

    def scope(self):
        """The context in which the model and its optimizer are made (the strategy's scope)."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def describe(self, batch_size: int) -> str:
        """For the run's status: where it trains and how many images a step.

        >>> Devices(("/device:CPU:0",)).describe(4)
        'one device (/device:CPU:0)'
        >>> Devices(("/gpu:0", "/gpu:1"), strategy=object()).describe(4)
        'MirroredStrategy over 2 devices (/gpu:0, /gpu:1): batch 4 per replica, 8 images a step'
        """
        if self.strategy is None:
            return f"one device ({', '.join(self.names)})"
        return (f"MirroredStrategy over {self.replicas} devices ({', '.join(self.names)}): batch "
                f"{batch_size} per replica, {batch_size * self.replicas} images a step")


def training_devices() -> Devices:
    """Several GPUs: mirrored on all; else several logical CPUs (set up by the caller): mirrored
    on those; else the one device."""
    import tensorflow as tf

    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    several = gpus if len(gpus) > 1 else (cpus if not gpus and len(cpus) > 1 else None)
    if several:
        return Devices(tuple(several), tf.distribute.MirroredStrategy(several))
    return Devices(tuple(gpus[:1] or cpus[:1]))
