"""Training run folders: :class:`Run` owns one, :func:`list_runs` finds them all.

Each run is a folder under ``models/`` (:func:`blasto.store.roots.models_root`), named like
``20261127-113000-demo``::

    config.json        the TrainConfig (with its augmentation settings)
    status.json        RunStatus: state, error, epoch, epochs, step, steps_per_epoch, started,
                       updated, elapsed_s, eta_s, best_val_loss, best_epoch, precision, pid, ...
    history.json       one EpochRecord per epoch: epoch, loss, val_loss, val_bce, val_dice,
                       val_iou, lr, steps, partial, elapsed_s
    batches.csv        epoch,step,loss: the loss of every batch (appended; a torn last line
                       after a kill is skipped by the reader)
    best.keras         the model with the best val_loss so far (no optimizer state)
    last.weights.h5    the weights after the last epoch, and
    last.optimizer.npz the optimizer's moments then (to resume exactly)
    stop               present = "please stop": the run ends within one batch
    train.log          the training process's output (runs started by the supervisor)

Epochs and steps are counted from 1. A batch ``(epoch e, step s)`` sits at
``e - 1 + s / steps_per_epoch`` on an epoch axis; a history entry at ``epoch``.

States: ``starting`` -> ``running`` -> ``stopped`` (by hand), ``early_stopped`` (early stopping
or the stop-at-val_loss rule), ``finished`` (all epochs) or ``failed`` (with the error text). A
run in a live state whose process no longer holds the training lock was killed: it reads as
``failed``. Every file but batches.csv is written with an atomic replace, so killing the process
at any moment (even with SIGKILL) leaves a checkpoint that loads and a history that parses.

A :class:`Run` reads each part of its folder once, the first time it is asked for; make a new
``Run`` (:meth:`Run.reload`) to see what happened since.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import json
import re
import shutil
from pathlib import Path

from blasto.errors import BlastoError, TrainingError
from blasto.store import atomic
from blasto.store.roots import models_root
from blasto.train.config import LIVE_STATES, TrainConfig
from blasto.train.records import (
    BATCHES_HEADER, BatchLoss, EpochRecord, RunStatus, best_record, now, read_batches,
)

CONFIG, STATUS, HISTORY, BATCHES = "config.json", "status.json", "history.json", "batches.csv"
BEST, LAST, OPTIMIZER_STATE = "best.keras", "last.weights.h5", "last.optimizer.npz"
STOP, LOG = "stop", "train.log"


def read_json(path, default):
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return default


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """One row of the runs table: the run's settings, state and best validation scores."""

    run_id: str
    path: str
    experiment: str | None
    state: str | None
    label: str
    error: str | None
    active: bool
    epochs_done: int
    epochs: int | None
    steps_per_epoch: int | None
    batch_size: int | None
    learning_rate: float | None
    optimizer: str | None
    loss: str | None
    dropout: bool | None
    start_filters: int | None
    preset: str | None
    precision: str | None
    best_val_loss: float | None
    best_epoch: int | None
    val_dice: float | None
    val_iou: float | None
    started: str | None
    elapsed_s: float | None
    has_model: bool

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def same_path(a, b) -> bool:
    """Whether two paths (either may be None) name the same file or folder."""
    return a is not None and b is not None and Path(a).resolve() == Path(b).resolve()


class Run:
    """One training run's folder: what it was asked (:attr:`config`), where it is
    (:attr:`status`), what it scored (:attr:`history`), and the writers the training process
    uses. ``Run`` is a path-like object (``Path(run)`` is its folder).

    ``active``: whether it is the run training now, if the caller already asked the lock
    (:func:`blasto.train.supervisor.active_run`); by default :attr:`active` asks it.
    """

    def __init__(self, path, *, active: bool | None = None):
        self.path = Path(path)
        if not self.path.is_dir():
            raise TrainingError(f"{self.path}: no such run folder.")
        self._active = active

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Run) and same_path(self.path, other.path)

    def __hash__(self) -> int:
        return hash(self.path.resolve())

    @property
    def name(self) -> str:
        """The run id: the folder's name."""
        return self.path.name

    def reload(self) -> "Run":
        """A new view of the same folder, reading it afresh."""
        return Run(self.path)

    # -- reading ------------------------------------------------------------------------------
    @functools.cached_property
    def config(self) -> TrainConfig:
        """The run's TrainConfig, or :class:`TrainingError` when config.json is unusable."""
        path = self.path / CONFIG
        values = read_json(path, None)
        if not isinstance(values, dict):
            raise TrainingError(f"{path}: missing or not valid JSON; this is not a usable run folder.")
        try:
            return TrainConfig.from_dict(values)
        except BlastoError as exc:  # a setting the checks refuse: say which file holds it
            raise TrainingError(f"{path}: {exc}") from None
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:  # edited by hand
            raise TrainingError(f"{path}: a setting has a value of the wrong kind "
                                f"({type(exc).__name__}: {exc}).") from None

    @functools.cached_property
    def active(self) -> bool:
        """Whether this run's process holds the training lock now."""
        if self._active is not None:
            return self._active
        from blasto.train.supervisor import active_run_dir

        return same_path(active_run_dir(), self.path)

    @functools.cached_property
    def status(self) -> RunStatus:
        """status.json; a live state without the lock (a killed process) reads as failed."""
        status = RunStatus.from_dict(read_json(self.path / STATUS, {}))
        if status.state in LIVE_STATES and not self.active:
            log = f" Its output is in {self.path / LOG}." if (self.path / LOG).is_file() else ""
            status.state = "failed"
            status.error = status.error or ("The training process ended without saying why "
                                            f"(killed, or the machine restarted).{log}")
        return status

    @functools.cached_property
    def history(self) -> list[EpochRecord]:
        """history.json as records (entries without an epoch number are skipped)."""
        entries = read_json(self.path / HISTORY, [])
        records = [EpochRecord.from_dict(e) for e in entries] if isinstance(entries, list) else []
        return [record for record in records if record is not None]

    def batches(self) -> list[BatchLoss]:
        """The per-batch losses of batches.csv (read each time: it grows every batch)."""
        return read_batches(self.path / BATCHES)

    @property
    def best(self) -> EpochRecord | None:
        """The epoch with the lowest val_loss, or None before the first epoch."""
        return best_record(self.history)

    @property
    def model_file(self) -> Path | None:
        """The saved model in this folder (best.keras, model.keras or last.keras), if any."""
        from blasto.model.files import model_in_folder

        return model_in_folder(self.path)

    def stop_requested(self) -> bool:
        return (self.path / STOP).exists()

    def summary(self) -> RunSummary:
        """The runs table's row (settings unknown when config.json is unusable)."""
        try:
            config = self.config
        except TrainingError:
            config = None
        status, best = self.status, self.best or EpochRecord(epoch=0)

        def setting(name):
            return getattr(config, name) if config is not None else None

        return RunSummary(
            run_id=self.name, path=str(self.path), experiment=setting("experiment") or status.experiment,
            state=status.state, label=status.label, error=status.error, active=self.active,
            epochs_done=len(self.history), epochs=setting("epochs"),
            steps_per_epoch=setting("steps_per_epoch"), batch_size=setting("batch_size"),
            learning_rate=setting("learning_rate"), optimizer=setting("optimizer"),
            loss=setting("loss"), dropout=setting("dropout"), start_filters=setting("start_filters"),
            preset=setting("preset"), precision=status.precision or setting("precision"),
            best_val_loss=best.val_loss, best_epoch=best.epoch or None, val_dice=best.val_dice,
            val_iou=best.val_iou, started=status.started, elapsed_s=status.elapsed_s,
            has_model=self.model_file is not None,
        )

    def resume_config(self, *, epochs=None) -> TrainConfig:
        """The config to resume this run with (``epochs`` in all if given), or
        :class:`TrainingError` when there is nothing to resume."""
        config = self.config if epochs is None else dataclasses.replace(self.config, epochs=int(epochs))
        self.check_resumable(config)
        return config

    def check_resumable(self, config: TrainConfig) -> None:
        """Refuse (:class:`TrainingError`) to resume this run with ``config`` when it has no
        finished epoch, or has done all of ``config.epochs``."""
        history = self.history
        if not history:
            raise TrainingError(f"Run {self.name} has no finished epoch to resume from; "
                                "start a new run instead.")
        if not (self.path / LAST).is_file():
            raise TrainingError(f"Run {self.name} has no last weights ({LAST}) to resume from; "
                                "start a new run instead.")
        if history[-1].epoch >= config.epochs:
            raise TrainingError(f"Run {self.name} has done all its {config.epochs} epochs; "
                                "give it more epochs to resume it.")

    def resume_refusal(self, *, epochs=None) -> str | None:
        """Why this run cannot be resumed with ``epochs`` in all, or None if it can (the Resume
        button's state; :meth:`resume_config` raises the same text)."""
        try:
            self.resume_config(epochs=epochs)
        except TrainingError as exc:
            return str(exc)
        return None

    # -- writing (the supervisor and the training process) -------------------------------------
    def write_config(self, config: TrainConfig) -> None:
        atomic.write_json(self.path / CONFIG, config.to_dict())

    def write_status(self, status: RunStatus) -> None:
        atomic.write_json(self.path / STATUS, status.to_dict())

    def write_history(self, history) -> None:
        atomic.write_json(self.path / HISTORY, [record.to_dict() for record in history])

    def write_batches(self, rows) -> None:
        """Replace batches.csv by ``rows`` (the training process appends to it as it goes)."""
        lines = [BATCHES_HEADER] + [row.csv_line() for row in rows]
        atomic.write_text(self.path / BATCHES, "\n".join(lines) + "\n")

    def request_stop(self) -> None:
        atomic.write_text(self.path / STOP, now() + "\n")

    def clear_stop(self) -> None:
        (self.path / STOP).unlink(missing_ok=True)

    def remove_leftovers(self) -> None:
        """Delete a killed process's unfinished atomic writes (hidden ``.*.tmp`` files)."""
        for leftover in self.path.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)


def _run_folders(root: Path):
    if not root.is_dir():
        return []
    return [folder for folder in root.iterdir()
            if folder.is_dir() and not folder.name.startswith(".") and (folder / CONFIG).is_file()]


def list_runs(*, root=None) -> list[Run]:
    """Every run under ``models/`` (a folder holding a config.json), newest first."""
    from blasto.train.supervisor import active_run_dir

    running = active_run_dir()
    runs = [Run(folder, active=same_path(running, folder))
            for folder in _run_folders(Path(root) if root else models_root())]
    return sorted(runs, key=lambda run: (run.status.started or "", run.name), reverse=True)


def resolve_run(name_or_path) -> Run:
    """A run from its folder or its run id under ``models/``."""
    if isinstance(name_or_path, Run):
        return name_or_path
    path = Path(name_or_path)
    if path.is_dir():
        return Run(path)
    candidate = models_root() / str(name_or_path)
    if candidate.is_dir():
        return Run(candidate)
    raise TrainingError(f"No run folder {str(name_or_path)!r} (looked in {models_root()}).")


def new_run(config: TrainConfig, *, root=None) -> Run:
    """Create a fresh folder ``models/<YYYYmmdd-HHMMSS>-<experiment>`` (nothing in it yet)."""
    root = Path(root) if root else models_root()
    root.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", config.experiment).strip("-.") or "run"
    base = f"{stamp}-{slug}"
    for n in range(1, 1000):
        folder = root / (base if n == 1 else f"{base}-{n}")
        try:
            folder.mkdir()
            return Run(folder)
        except FileExistsError:
            continue
    raise TrainingError(f"{root}: cannot find a free run folder name for {base}.")


def delete_run(run) -> None:
    """Delete a run folder (refused for the run that is training, and for non-run folders)."""
    run = resolve_run(run)
    if not (run.path / CONFIG).is_file():
        raise TrainingError(f"{run.path}: not a training run folder (no {CONFIG}); not deleted.")
    if run.reload().active:
        raise TrainingError(f"Run {run.name} is still training: stop it before deleting it.")
    shutil.rmtree(run.path)

