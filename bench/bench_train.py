"""Training speed (and, with --accuracy, validation Dice) of blasto against the seed's pipeline.

Prints, side by side in one process on this machine:

* the machine's measured matmul peak (GFLOP/s, float32 and bfloat16);
* the seed's own pipeline: two legacy ``ImageDataGenerator`` flows zipped, batch 1,
  RMSprop + BCE, ``model.fit``: images/s;
* blasto's pipeline (tf.data, one warp per pair, parallel map, prefetch) with blasto's loss and
  optimizer, at batch 1 and at larger batches, float32 and mixed bfloat16: images/s, the ratio
  to the seed, and the achieved GFLOP/s of the U-Net's training step;
* augmentation pairs/s (blasto's tf.data warp vs the legacy generators) and the input pipeline's
  throughput without the model.

``--accuracy`` also trains for a step budget (default 600 steps at batch 1, blasto's defaults)
with the real training (:func:`blasto.train.worker.train`) and prints the validation Dice and IoU at
threshold 0.8; ``--accuracy-seed`` does the same with the seed's recipe.

Usage::

    .venv/bin/python bench/bench_train.py                       # speed, on a fresh demo
    .venv/bin/python bench/bench_train.py --steps 20 --batches 1,4,8
    .venv/bin/python bench/bench_train.py --accuracy --accuracy-seed --skip-speed

The CPU may be shared: figures are what was measured, with the load average printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
# This script's folder is on sys.path when it runs as a script; bench_predict shares these.
from _common import demo_data, forward_flops, matmul_peak  # noqa: E402

SEED_GENERATOR = dict(rotation_range=180, width_shift_range=0.2, height_shift_range=0.2,
                      shear_range=0.2, zoom_range=0.01, horizontal_flip=True, rescale=1.0 / 255)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="folder holding the demo experiment (default: write one)")
    parser.add_argument("--experiment", default="demo")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per configuration")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (tracing)")
    parser.add_argument("--batches", default="1,4,8", help="batch sizes for blasto's pipeline")
    parser.add_argument("--no-mixed", action="store_true", help="skip the bfloat16 runs")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--accuracy", action="store_true",
                        help="train blasto's defaults for --budget steps and print validation Dice")
    parser.add_argument("--accuracy-seed", action="store_true",
                        help="the same with the seed's recipe (RMSprop 1e-3, BCE)")
    parser.add_argument("--accuracy-config", action="append", default=[], metavar="KEY=VALUE,...",
                        help="another accuracy run with these TrainConfig overrides "
                             "(e.g. mixed_precision=true,batch_size=4)")
    parser.add_argument("--budget", type=int, default=600, help="training steps for --accuracy")
    return parser.parse_args(argv)


def load_frames(args):
    from blasto.train.dataset import training_frames
    from blasto.store.experiment import open_experiment

    # keep=True: the written demo outlives this call (the --accuracy runs train on it) and the
    # folder it prints can be passed as --data next time.
    with demo_data(args.data, prefix="bench-train-", keep=True) as data:
        args.data = str(data)
    os.environ["BLASTO_DATA"] = args.data
    return training_frames(open_experiment(args.experiment))


# -- timing model.fit ---------------------------------------------------------------------------------
def timed_fit(model, data, *, steps, warmup, batch_size) -> float:
    """Images per second over ``steps`` batches after ``warmup`` batches."""
    import keras

    times = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter())

    model.fit(data, epochs=1, steps_per_epoch=warmup + steps, callbacks=[Clock()], verbose=0,
              shuffle=False)
    timed = times[warmup - 1:] if warmup else times
    return batch_size * (len(timed) - 1) / (timed[-1] - timed[0])


def seed_generators(frames, *, batch_size=1):
    """The seed's pipeline: two legacy ImageDataGenerator flows with one seed, zipped."""
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    images = frames.images[..., None].astype(np.float32)
    masks = frames.masks[..., None].astype(np.float32) * 255.0
    image_flow = ImageDataGenerator(**SEED_GENERATOR).flow(images, batch_size=batch_size, seed=1)
    mask_flow = ImageDataGenerator(**SEED_GENERATOR).flow(masks, batch_size=batch_size, seed=1)
    # The seed passed zip(image_flow, mask_flow) to fit; Keras 3 wants a generator.
    return (pair for pair in zip(image_flow, mask_flow))


def seed_speed(frames, args) -> float:
    import keras

    from blasto.model.unet import build_unet

    model = build_unet(input_size=frames.images.shape[1], kernel_initializer="glorot_uniform",
                       zero_mean_first_layer=False)  # the seed's model, as Keras built it
    model.compile(optimizer=keras.optimizers.RMSprop(), loss="binary_crossentropy")
    return timed_fit(model, seed_generators(frames), steps=args.steps, warmup=args.warmup,
                     batch_size=1)


def blasto_speed(frames, args, *, batch_size, mixed) -> float:
    from blasto.train.dataset import training_dataset
    from blasto.model.unet import build_unet
    from blasto.train.config import TrainConfig
    from blasto.train.recipe import make_loss, make_optimizer

    config = TrainConfig(experiment=args.experiment, batch_size=batch_size, mixed_precision=mixed)
    model = build_unet(input_size=frames.images.shape[1], mixed_precision=mixed,
                       dropout=config.dropout)
    model.compile(optimizer=make_optimizer(config), loss=make_loss(config.loss))
    data = training_dataset(frames, batch_size=batch_size, augment=config.augment)
    steps = max(4, args.steps // batch_size) if batch_size > 1 else args.steps
    return timed_fit(model, data, steps=steps, warmup=max(2, args.warmup // 2),
                     batch_size=batch_size)


def augmentation_speed(frames, *, count=400) -> tuple[float, float, float]:
    """(blasto warp pairs/s, legacy generator pairs/s, blasto pipeline images/s at batch 8)."""
    from blasto.train.dataset import training_dataset

    dataset = training_dataset(frames, batch_size=1)
    iterator = iter(dataset)
    next(iterator)
    t0 = time.perf_counter()
    for _ in range(count):
        next(iterator)
    blasto_rate = count / (time.perf_counter() - t0)

    generator = seed_generators(frames)
    next(generator)
    legacy_count = max(count // 10, 20)
    t0 = time.perf_counter()
    for _ in range(legacy_count):
        next(generator)
    legacy_rate = legacy_count / (time.perf_counter() - t0)

    iterator = iter(training_dataset(frames, batch_size=8))
    next(iterator)
    t0 = time.perf_counter()
    for _ in range(count // 8):
        next(iterator)
    pipeline_rate = 8 * (count // 8) / (time.perf_counter() - t0)
    return blasto_rate, legacy_rate, pipeline_rate


def speed(frames, args):
    import tensorflow as tf

    from blasto.model.unet import build_unet

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
          f"TensorFlow {tf.__version__}; devices {[d.device_type for d in tf.config.list_physical_devices()]}")
    peak32, peak16 = matmul_peak(tf.float32), matmul_peak(tf.bfloat16)
    print(f"matmul peak: {peak32:.0f} GFLOP/s float32, {peak16:.0f} GFLOP/s bfloat16")
    size = frames.images.shape[1]
    step_flops = 3 * forward_flops(build_unet(input_size=size))  # forward + backward ~ 3x forward
    print(f"U-Net at {size}x{size}: {step_flops / 3 / 1e9:.1f} GFLOP forward, ~{step_flops / 1e9:.1f} "
          f"GFLOP per training image")

    warp, legacy, pipeline = augmentation_speed(frames)
    print(f"augmentation: blasto tf.data warp {warp:.0f} pairs/s, legacy ImageDataGenerator "
          f"{legacy:.0f} pairs/s ({warp / legacy:.1f}x); blasto input pipeline alone "
          f"{pipeline:.0f} images/s at batch 8")

    seed = seed_speed(frames, args)
    print(f"\n{'pipeline':<44} {'img/s':>7} {'x seed':>7} {'GFLOP/s':>8} {'% peak':>7}")
    print(f"{'seed (ImageDataGenerator, RMSprop, fp32, b1)':<44} {seed:7.2f} {1.0:7.2f} "
          f"{seed * step_flops / 1e9:8.0f} {100 * seed * step_flops / 1e9 / peak32:6.0f}%")
    results = {}
    for mixed in ([False] if args.no_mixed else [False, True]):
        for batch_size in [int(b) for b in args.batches.split(",")]:
            rate = blasto_speed(frames, args, batch_size=batch_size, mixed=mixed)
            results[(mixed, batch_size)] = rate
            peak = peak16 if mixed else peak32
            label = f"blasto (tf.data, {'bf16' if mixed else 'fp32'}, b{batch_size})"
            print(f"{label:<44} {rate:7.2f} {rate / seed:7.2f} {rate * step_flops / 1e9:8.0f} "
                  f"{100 * rate * step_flops / 1e9 / peak:6.0f}%", flush=True)
    (mixed, batch_size), best = max(results.items(), key=lambda item: item[1])
    print(f"\nbest: {'bf16' if mixed else 'fp32'} at batch {batch_size}: {best:.2f} img/s = "
          f"{best / seed:.2f}x the seed pipeline; batch 1 fp32: "
          f"{results.get((False, 1), float('nan')) / seed:.2f}x")
    if tf.config.list_physical_devices("GPU"):
        # The seed's notebook reported 34 ms per step at batch 1 on its GPU.
        print(f"GPU: the seed reported 34 ms/step at batch 1 = {1 / 0.034:.1f} img/s; here the "
              f"seed pipeline {seed:.1f} img/s, blasto's best {best:.1f} img/s "
              f"({best * 0.034:.2f}x the reported figure)")
    auto_choice()
    # The model's convolutions bound the speed-up, not the input pipeline: say how much room
    # the measured peaks leave above the seed's own step.
    ceiling32 = peak32 / (seed * step_flops / 1e9)
    ceiling16 = peak16 / (seed * step_flops / 1e9)
    print(f"ceiling: the measured matmul peak is {ceiling32:.2f}x the GFLOP/s of the seed's "
          f"training step in float32 ({ceiling16:.2f}x in bfloat16); the seed's input pipeline "
          f"costs {seed / legacy:.0%} of its step time")


def auto_choice():
    """What blasto's default precision ("auto") picks on this machine, measured afresh."""
    from blasto.train.number_format import choose_mixed_precision

    with tempfile.TemporaryDirectory() as folder:
        _, reason = choose_mixed_precision(path=Path(folder) / "precision.json")
    print(f"precision auto (blasto's default) picks {reason}")


def accuracy(args, label, **overrides):
    import dataclasses

    from blasto.train.config import TrainConfig
    from blasto.train.worker import train

    models = tempfile.mkdtemp(prefix="bench-train-models-")
    os.environ["BLASTO_MODELS"] = models
    preset = overrides.pop("preset", "blasto")
    config = TrainConfig.from_preset(preset, experiment=args.experiment, **overrides)
    if config.total_steps != args.budget and "epochs" not in overrides:
        config = dataclasses.replace(config, epochs=max(1, args.budget // config.steps_per_epoch))
    t0 = time.perf_counter()
    run = train(config)
    wall = time.perf_counter() - t0
    best, last = run.best, run.history[-1]
    images = config.total_steps * config.batch_size
    print(f"{label:<34} {config.total_steps:>5} steps x b{config.batch_size}: {wall / 60:5.1f} min "
          f"({images / wall:.2f} img/s incl. validation); val Dice@{config.threshold} last "
          f"{last.val_dice:.3f} / best-val_loss epoch {best.val_dice:.3f}; IoU "
          f"{last.val_iou:.3f}; val_bce {last.val_bce:.4f}", flush=True)
    return last.val_dice


def parse_overrides(text: str) -> dict:
    """'mixed_precision=true,batch_size=4' -> {'mixed_precision': True, 'batch_size': 4}."""
    values = {}
    for item in filter(None, text.split(",")):
        key, value = item.split("=", 1)
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            values[key] = lowered == "true"
        elif lowered in ("none", "null"):
            values[key] = None
        else:
            try:
                values[key] = int(value)
            except ValueError:
                try:
                    values[key] = float(value)
                except ValueError:
                    values[key] = value
    return values


def main(argv=None):
    args = parse_args(argv)
    frames, validation = load_frames(args)
    print(f"experiment {args.experiment}: {len(frames)} training frames, {len(validation)} "
          f"validation frames, {frames.images.shape[1]}x{frames.images.shape[2]}", flush=True)
    if not args.skip_speed:
        speed(frames, args)
    if args.accuracy or args.accuracy_seed or args.accuracy_config:
        print(f"\naccuracy after {args.budget} steps (load average {os.getloadavg()[0]:.1f}):")
    if args.accuracy:
        accuracy(args, "blasto defaults")
    if args.accuracy_seed:
        accuracy(args, "seed recipe (RMSprop, BCE)", preset="seed")
    for text in args.accuracy_config:
        accuracy(args, f"blasto + {text}", **parse_overrides(text))


if __name__ == "__main__":
    main()
