"""The training itself: :func:`train` in this process (``python -m blasto train``, tests), and
:func:`main`, the process the supervisor starts::

    python -m blasto.train.worker RUN_DIR [--resume] --lock-fd N

The supervisor has written the run's config.json and hands over the training lock with the
descriptor ``N``; the process trains the run in ``RUN_DIR`` (or resumes it from its last finished
epoch) and records everything in the folder (:mod:`blasto.train.runs`). Its output goes to the
run's train.log.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from blasto.errors import BlastoError, TrainingError
from blasto.train.config import TrainConfig, precision_label
from blasto.train.devices import training_devices
from blasto.train.records import Progress, RunStatus, now
from blasto.train.runs import LAST, OPTIMIZER_STATE, Run, new_run, resolve_run
from blasto.train.supervisor import announce, training_lock


def train(config: TrainConfig, *, run_dir=None, progress=None, resume=False, lock_fd=None,
          stop_event=None) -> Run:
    """Train in this process (blocking) and return the run.

    ``run_dir``: the folder to use (default: a new one under ``models/``). ``resume``: carry on
    the run in ``run_dir`` from its last finished epoch (``config`` may have more epochs).
    ``progress(Progress)`` is called after every batch and epoch. ``stop_event`` (a
    ``threading.Event``): set it to stop as the stop file does. ``lock_fd``: a descriptor that
    already holds the training lock (default: take it; refused while another run trains).
    """
    with training_lock(lock_fd):
        if resume:
            run = resolve_run(run_dir)
            run.check_resumable(config)
            if lock_fd is None:  # resumed from a shell: an old stop request no longer applies
                run.clear_stop()
        else:
            run = _fresh_run(config, run_dir)
        run.write_config(config)
        _train_locked(run, config, resume=resume, progress=progress, stop_event=stop_event)
    return run.reload()


def main(argv=None) -> int:
    """The training process's entry point (see the module's docstring)."""
    parser = argparse.ArgumentParser(prog="python -m blasto.train.worker",
                                     description="Train the run in RUN_DIR (started by the supervisor).")
    parser.add_argument("run_dir", metavar="RUN_DIR")
    parser.add_argument("--resume", action="store_true", help="carry on from the last finished epoch")
    parser.add_argument("--lock-fd", type=int, required=True, help="descriptor holding the training lock")
    args = parser.parse_args(argv)
    try:
        run = Run(args.run_dir)
        with training_lock(args.lock_fd):
            _train_locked(run, run.config, resume=args.resume)
    except BlastoError as exc:  # recorded in status.json; one plain line in train.log
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _fresh_run(config: TrainConfig, run_dir) -> Run:
    if run_dir is None:
        return new_run(config)
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    run = Run(run_dir)
    if run.history:
        raise TrainingError(f"{run.path} already holds a run: resume it instead (--resume).")
    return run


def _train_locked(run: Run, config: TrainConfig, *, resume: bool, progress=None, stop_event=None):
    """Train ``run`` while this process holds the lock; record a failure before raising it."""
    announce(run, os.getpid())
    status = RunStatus.starting(config, run.name, pid=os.getpid())
    if resume:
        run.remove_leftovers()
        previous = run.reload().status
        status = dataclasses.replace(status, started=previous.started or status.started,
                                     elapsed_s=previous.elapsed_s or 0.0,
                                     best_val_loss=previous.best_val_loss, best_epoch=previous.best_epoch)
    run.write_status(status)
    try:
        _fit(run, config, status, resume=resume, progress=progress, stop_event=stop_event)
    except BaseException as exc:
        interrupted = isinstance(exc, KeyboardInterrupt)
        status.state = "stopped" if interrupted else "failed"
        status.error = "Interrupted." if interrupted else _error_text(exc)
        status.updated = now()
        run.write_status(status)
        if progress:
            progress(Progress(run.path, dataclasses.replace(status), tuple(run.reload().history)))
        raise


def _error_text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, BlastoError) else f"{type(exc).__name__}: {exc}"


def _fit(run: Run, config: TrainConfig, status: RunStatus, *, resume, progress, stop_event):
    import keras

    from blasto.store.experiment import open_experiment
    from blasto.train import callbacks
    from blasto.train.dataset import training_dataset, training_frames
    from blasto.train.recipe import make_loss, make_optimizer

    train_frames, val_frames = training_frames(open_experiment(config.experiment))
    history = run.reload().history if resume else []
    initial_epoch = history[-1].epoch if history else 0
    initial_step = sum(record.steps or config.steps_per_epoch for record in history)
    if resume:  # a killed run's unfinished epoch is dropped: it is trained again
        run.write_batches([row for row in run.batches() if row.epoch <= initial_epoch])
    else:
        run.write_batches([])
        run.write_history([])

    mixed = _resolve_precision(config, run, status)
    devices = training_devices()
    status.devices = devices.describe(config.batch_size)
    run.write_status(status)
    keras.utils.set_random_seed(config.seed)
    # The trained model and its optimizer live on every device (the strategy's scope); the
    # float32 twin that checkpoints are saved from stays a plain model.
    with devices.scope():
        model = _build_model(config, train_frames, mixed_precision=mixed)
        if resume:
            model.load_weights(run.path / LAST)
        optimizer = make_optimizer(config)
        model.compile(optimizer=optimizer, loss=make_loss(config.loss))
        if initial_step:
            optimizer.build(model.trainable_variables)
            status.optimizer_state_restored = callbacks.restore_optimizer_state(
                optimizer, run.path / OPTIMIZER_STATE, epoch=initial_epoch)
            optimizer.iterations.assign(initial_step)  # the schedule carries on where it was
    twin = _build_twin(config, train_frames)

    fit_callbacks = callbacks.run_callbacks(
        run, config, status, history, validation=val_frames, twin=twin, initial_step=initial_step,
        progress=progress, stop_event=stop_event)
    # batch_size is per replica: a step trains it on every device (Keras splits the batch).
    dataset = training_dataset(train_frames, batch_size=config.batch_size * devices.replicas,
                               augment=config.augment,
                               seed=config.seed + initial_epoch)
    try:
        model.fit(dataset, epochs=config.epochs, steps_per_epoch=config.steps_per_epoch,
                  initial_epoch=initial_epoch, callbacks=fit_callbacks.all, verbose=0, shuffle=False)
    finally:
        fit_callbacks.close()
    fit_callbacks.finish()


def _unet_options(config: TrainConfig, train_frames) -> dict:
    return dict(input_size=int(train_frames.images.shape[1]), start_filters=config.start_filters,
                dropout=config.dropout)


def _build_model(config: TrainConfig, train_frames, *, mixed_precision: bool):
    """The model to train, with the recipe's starting weights or those of ``config.initial_model``."""
    from blasto.model.unet import build_unet
    from blasto.train.recipe import init_options

    model = build_unet(**_unet_options(config, train_frames), mixed_precision=mixed_precision,
                       **init_options(config, train_frames.masks))
    if config.initial_model:
        copy_weights(config.initial_model, model, start_filters=config.start_filters)
    return model


def _build_twin(config: TrainConfig, train_frames):
    """The float32 twin checkpoints are saved from (small, no optimizer state, loadable anywhere)."""
    from blasto.model.unet import build_unet

    return build_unet(**_unet_options(config, train_frames))


def copy_weights(source, model, *, start_filters=None) -> None:
    """Give ``model`` the weights of the saved model ``source`` (file or folder), or
    :class:`TrainingError` when their layers differ (say ``start_filters`` of the run)."""
    from blasto.model.files import load_model

    weights = load_model(source).get_weights()
    shapes = [tuple(w.shape) for w in weights]
    if shapes != [tuple(w.shape) for w in model.get_weights()]:
        filters = f" with {start_filters} start filters" if start_filters else ""
        raise TrainingError(f"{source}: this model's layers differ from the U-Net this run "
                            f"builds{filters}, so training cannot start from its weights "
                            f"(its first layer has {shapes[0][-1] if shapes else 0} filters).")
    model.set_weights(weights)


def _resolve_precision(config: TrainConfig, run: Run, status: RunStatus) -> bool:
    """Mixed bfloat16 or not; "auto" (None) picks what this machine trains faster (measured
    once per machine, see :mod:`blasto.train.number_format`). The choice goes into status.json."""
    if config.mixed_precision is None:
        from blasto.train.number_format import choose_mixed_precision

        status.precision = "auto: timing float32 against bfloat16 (once per machine)"
        run.write_status(status)
        mixed, status.precision_reason = choose_mixed_precision()
        status.precision = f"{precision_label(mixed)} (auto)"
    else:
        mixed = bool(config.mixed_precision)
        status.precision = precision_label(mixed)
    run.write_status(status)
    return mixed


if __name__ == "__main__":
    sys.exit(main())
