"""The Keras callbacks of a training run, one job each, and :func:`run_callbacks` that lines
them up for ``model.fit``.

In the order they run at each hook (callbacks after another read what it put into ``logs``):

* :class:`StopRequest`: the stop file or stop event ends ``fit`` within one batch;
* :class:`BatchLossLog`: each batch's own loss into batches.csv (and ``logs["batch_loss"]``);
* :class:`ValidationScores`: val_loss, val_bce, val_dice, val_iou into the epoch's logs, through
  the one inference path (:class:`blasto.model.inference.Predictor`) and
  :func:`blasto.masks.score_frames`;
* :class:`Checkpoints`: last weights and optimizer state every epoch, best.keras on a better
  val_loss, from the float32 twin, atomically;
* :class:`HistoryWriter`, then Keras's own ``EarlyStopping`` (:class:`ResumableEarlyStopping`
  carries on a resumed run's wait and best) and :class:`StopAtValLoss`, then
  :class:`StatusWriter` (status.json and the ``progress`` callback).

This module subclasses ``keras.callbacks.Callback``, so importing it imports Keras: only the
training process's fit (:mod:`blasto.train.worker`) imports it, inside a function.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time

import keras
import numpy as np

from blasto.masks import cell_mask, score_frames
from blasto.model.inference import Predictor
from blasto.store import atomic
from blasto.train.config import LIVE_STATES, TrainConfig
from blasto.train.recipe import make_loss
from blasto.train.records import BatchLoss, EpochRecord, Progress, RunStatus, best_record, now
from blasto.train.runs import BATCHES, BEST, LAST, OPTIMIZER_STATE, Run

STATUS_EVERY_S = 0.5  # status.json is rewritten at most this often during an epoch


class RunClock:
    """Seconds spent training: in this process, and in all of the run's processes (a resumed
    run carries on from ``before``)."""

    def __init__(self, *, before: float = 0.0):
        self.before, self.start = float(before or 0.0), time.monotonic()

    def this_process(self) -> float:
        return time.monotonic() - self.start

    def elapsed(self) -> float:
        return self.before + self.this_process()


class StopRequest(keras.callbacks.Callback):
    """Ends ``fit`` within one batch once the run's stop file exists or ``event`` is set."""

    def __init__(self, run: Run, *, event=None):
        super().__init__()
        self.run, self.event = run, event
        self.stopped = False

    def on_train_batch_end(self, batch, logs=None):
        if self.run.stop_requested() or (self.event is not None and self.event.is_set()):
            self.model.stop_training = True
            self.stopped = True


class BatchLossLog(keras.callbacks.Callback):
    """Appends each batch's own loss to batches.csv (``keras.callbacks.CSVLogger``, per batch)
    and puts it into the batch's logs as ``batch_loss``.

    Appended, not replaced atomically: rewriting the file every batch would cost ever more; a
    line torn by a kill is skipped by :func:`blasto.train.records.read_batches`.
    """

    def __init__(self, run: Run):
        super().__init__()
        self.path = run.path / BATCHES
        self.file = None
        self.epoch, self.epoch_mean = 0, 0.0

    def on_train_begin(self, logs=None):
        self.file = open(self.path, "a", buffering=1)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.epoch_mean = epoch + 1, 0.0

    def on_train_batch_end(self, batch, logs=None):
        # Keras reports the running mean of the epoch; recover this batch's own loss from it.
        step, mean = batch + 1, float(logs.get("loss", math.nan))
        loss = mean * step - self.epoch_mean * (step - 1)
        self.epoch_mean = mean
        logs["batch_loss"] = loss
        self.file.write(BatchLoss(self.epoch, step, loss).csv_line() + "\n")

    def on_train_end(self, logs=None):
        self.close()

    def close(self):
        if self.file is not None:
            self.file.close()
            self.file = None


class ValidationScores(keras.callbacks.Callback):
    """Adds the validation scores to each epoch's logs: ``val_loss`` (the training loss),
    ``val_bce``, and the mean per-frame ``val_dice`` / ``val_iou`` at ``threshold``."""

    def __init__(self, frames, *, loss: str, threshold: float):
        super().__init__()
        self.frames, self.threshold = frames, threshold
        self.loss, self.bce = make_loss(loss), make_loss("bce")
        self.truth = frames.masks[..., None].astype(np.float32)
        self.predictor = None

    def on_train_begin(self, logs=None):
        # One trace for the whole run; the training model as it is (a bfloat16 copy would
        # freeze its weights), in the precision it trains in.
        self.predictor = Predictor(self.model, precision="float32")

    def on_epoch_end(self, epoch, logs=None):
        p = self.predictor.probabilities(self.frames.images)
        scores = score_frames(cell_mask(p, threshold=self.threshold), self.frames.masks)
        logs.update(val_loss=float(np.mean(self.loss(self.truth, p[..., None]))),
                    val_bce=float(np.mean(self.bce(self.truth, p[..., None]))),
                    val_dice=scores.dice_mean, val_iou=scores.iou_mean)


class Checkpoints(keras.callbacks.Callback):
    """After every epoch: last.weights.h5 and last.optimizer.npz; best.keras when val_loss is
    lower than ever (``best_val_loss``: a resumed run's best so far). All atomic, all from the
    float32 ``twin`` without optimizer state: small, and loadable anywhere."""

    def __init__(self, run: Run, *, twin, best_val_loss=None):
        super().__init__()
        self.run, self.twin, self.best_val_loss = run, twin, best_val_loss

    def on_epoch_end(self, epoch, logs=None):
        self.twin.set_weights(self.model.get_weights())
        with atomic.atomic_path(self.run.path / LAST, suffix=".weights.h5") as tmp:
            self.twin.save_weights(tmp)
        save_optimizer_state(self.model.optimizer, self.run.path / OPTIMIZER_STATE, epoch=epoch + 1)
        val_loss = logs["val_loss"]
        if self.best_val_loss is None or val_loss < self.best_val_loss:
            with atomic.atomic_path(self.run.path / BEST, suffix=".keras") as tmp:
                self.twin.save(tmp)
            self.best_val_loss = val_loss


class HistoryWriter(keras.callbacks.Callback):
    """Appends each epoch's record to ``history`` and writes history.json."""

    def __init__(self, run: Run, history: list, *, clock: RunClock, steps_per_epoch: int):
        super().__init__()
        self.run, self.history, self.clock = run, history, clock
        self.steps_per_epoch, self.steps = steps_per_epoch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps = batch + 1

    def on_epoch_end(self, epoch, logs=None):
        self.history.append(EpochRecord(
            epoch=epoch + 1, loss=float(logs.get("loss", math.nan)), val_loss=logs.get("val_loss"),
            val_bce=logs.get("val_bce"), val_dice=logs.get("val_dice"), val_iou=logs.get("val_iou"),
            lr=_learning_rate(self.model.optimizer), steps=self.steps,
            partial=self.steps < self.steps_per_epoch, elapsed_s=round(self.clock.elapsed(), 1)))
        self.run.write_history(self.history)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras's early stopping on a loss ("min" mode); ``earlier``: the values of the epochs a
    resumed run already did, so its best and its wait carry on where they were."""

    def __init__(self, *, monitor: str, patience: int, earlier=()):
        super().__init__(monitor=monitor, patience=patience, mode="min")
        self.earlier = [value for value in earlier if value is not None]

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        for value in self.earlier:  # what on_epoch_end did with them, without stopping
            self.wait += 1
            if self.best is None or value < self.best:
                self.best, self.wait = value, 0

    @property
    def stopped(self) -> bool:
        return self.stopped_epoch > 0


class StopAtValLoss(keras.callbacks.Callback):
    """Ends training once val_loss <= ``target`` (the seed's "stop at about 0.08" rule)."""

    def __init__(self, target: float):
        super().__init__()
        self.target, self.stopped = target, False

    def on_epoch_end(self, epoch, logs=None):
        if logs.get("val_loss") is not None and logs["val_loss"] <= self.target:
            self.model.stop_training = True
            self.stopped = True


class StatusWriter(keras.callbacks.Callback):
    """Keeps status.json current (at each epoch's start and end, and at most every
    :data:`STATUS_EVERY_S` in between) and reports each batch and epoch to ``progress``."""

    def __init__(self, run: Run, status: RunStatus, history: list, *, clock: RunClock,
                 total_steps: int, initial_step: int, progress=None):
        super().__init__()
        self.run, self.status, self.history, self.clock = run, status, history, clock
        self.total_steps, self.progress = total_steps, progress
        self.status.global_step, self.steps_this_process = initial_step, 0
        self.last_write = -math.inf

    def write(self, *, force=False) -> None:
        moment = time.monotonic()
        if force or moment - self.last_write >= STATUS_EVERY_S:
            seconds_per_step = (self.clock.this_process() / self.steps_this_process
                                if self.steps_this_process else None)
            remaining = self.total_steps - self.status.global_step
            self.status.updated, self.status.elapsed_s = now(), round(self.clock.elapsed(), 1)
            if self.status.state not in LIVE_STATES:
                self.status.eta_s = 0.0
            elif seconds_per_step is not None:
                self.status.eta_s = round(seconds_per_step * remaining, 1)
            self.run.write_status(self.status)
            self.last_write = moment
        if self.progress:
            self.progress(Progress(self.run.path, dataclasses.replace(self.status), tuple(self.history)))

    def on_train_begin(self, logs=None):
        self.status.state, self.status.pid = "running", os.getpid()
        self.write(force=True)

    def on_epoch_begin(self, epoch, logs=None):
        self.status.epoch, self.status.step = epoch + 1, 0
        self.write(force=True)

    def on_train_batch_end(self, batch, logs=None):
        self.status.global_step += 1
        self.steps_this_process += 1
        self.status.step, self.status.last_loss = batch + 1, logs.get("batch_loss")
        self.write()

    def on_epoch_end(self, epoch, logs=None):
        best = best_record(self.history)
        if best is not None:
            self.status.best_val_loss, self.status.best_epoch = best.val_loss, best.epoch
        self.write(force=True)

    def finish(self, state: str) -> None:
        """The final state, once ``fit`` has returned."""
        self.status.state = state
        self.write(force=True)


@dataclasses.dataclass
class RunCallbacks:
    """The callbacks of one ``fit``, and the final state they add up to."""

    stop: StopRequest
    batch_log: BatchLossLog
    enders: list  # early stopping and the stop-at-val_loss rule
    status: StatusWriter
    all: list

    def final_state(self) -> str:
        """``stopped`` (by hand), ``early_stopped`` or ``finished`` (all epochs)."""
        if self.stop.stopped:
            return "stopped"
        return "early_stopped" if any(ender.stopped for ender in self.enders) else "finished"

    def finish(self) -> None:
        self.status.finish(self.final_state())

    def close(self) -> None:
        """Close batches.csv even when ``fit`` raised (Keras then skips on_train_end)."""
        self.batch_log.close()


def run_callbacks(run: Run, config: TrainConfig, status: RunStatus, history: list, *, validation,
                  twin, initial_step: int, progress=None, stop_event=None) -> RunCallbacks:
    """The callbacks of a run's ``fit``; ``history``: the epochs done before (a resumed run),
    appended to as epochs end; ``validation``: the validation FrameSet."""
    clock = RunClock(before=status.elapsed_s)
    best = best_record(history)
    enders = []
    if config.early_stopping:
        enders.append(ResumableEarlyStopping(
            monitor=config.early_stopping, patience=config.patience,
            earlier=[getattr(record, config.early_stopping) for record in history]))
    if config.stop_at_val_loss is not None:
        enders.append(StopAtValLoss(config.stop_at_val_loss))
    stop, batch_log = StopRequest(run, event=stop_event), BatchLossLog(run)
    writer = StatusWriter(run, status, history, clock=clock, total_steps=config.total_steps,
                          initial_step=initial_step, progress=progress)
    ordered = [
        stop, batch_log, ValidationScores(validation, loss=config.loss, threshold=config.threshold),
        Checkpoints(run, twin=twin, best_val_loss=best.val_loss if best else None),
        HistoryWriter(run, history, clock=clock, steps_per_epoch=config.steps_per_epoch),
        *enders, writer,
    ]
    return RunCallbacks(stop=stop, batch_log=batch_log, enders=enders, status=writer, all=ordered)


def _learning_rate(optimizer) -> float | None:
    """The optimizer's learning rate now (its schedule's value at this step)."""
    try:
        return float(np.asarray(optimizer.learning_rate))
    except (TypeError, ValueError):
        return None


def save_optimizer_state(optimizer, path, *, epoch: int) -> None:
    """The optimizer's variables (Adam's moments, RMSprop's averages) after ``epoch``, atomic."""
    values = {f"v{i}": variable.numpy() for i, variable in enumerate(optimizer.variables)}
    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, epoch=epoch, **values)


def restore_optimizer_state(optimizer, path, *, epoch: int) -> bool:
    """Load the state :func:`save_optimizer_state` wrote after ``epoch`` into a built optimizer.

    Without it (an older run, a kill between the two files, another optimizer) the optimizer
    starts afresh: Adam's first steps are then up to ~3x too large, so it matters.
    """
    try:
        with np.load(path) as saved:
            if int(saved["epoch"]) != epoch or len(saved.files) - 1 != len(optimizer.variables):
                return False
            values = [saved[f"v{i}"] for i in range(len(optimizer.variables))]
    except (OSError, KeyError, ValueError):
        return False
    if any(tuple(v.shape) != value.shape for v, value in zip(optimizer.variables, values)):
        return False
    for variable, value in zip(optimizer.variables, values):
        variable.assign(value)
    return True
