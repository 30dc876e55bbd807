"""Training runs: the engine behind the Train page and ``python -m blasto train``.

Each run is a folder under ``models/`` (:func:`blasto.store.roots.models_root`), named like
``20261127-113000-demo``::

    config.json       the TrainConfig (with its augmentation settings)
    status.json       {"state", "error", "epoch", "epochs", "step", "steps_per_epoch",
                       "started", "updated", "elapsed_s", "eta_s", "best_val_loss", "pid", ...}
    history.json      one entry per epoch: {"epoch", "loss", "val_loss", "val_dice", "val_iou",
                       "val_bce", "lr", "steps", "partial", "elapsed_s"}
    batches.csv       epoch,step,loss: the loss of every batch (appended; a torn last line
                      after a kill is skipped by the reader)
    best.keras        the model with the best val_loss so far (no optimizer state, ~35 MB)
    last.weights.h5   the weights after the last epoch (to resume a stopped run)
    stop              present = "please stop": the run ends within one batch
    train.log         the training process's output (runs started with :func:`start_run`)

Epochs and steps are counted from 1. A batch ``(epoch e, step s)`` sits at
``e - 1 + s / steps_per_epoch`` on an epoch axis; a history entry at ``epoch``.

States: ``starting`` -> ``running`` -> ``stopped`` (by hand), ``early_stopped`` (early stopping
or the stop-at-val_loss rule), ``finished`` (all epochs) or ``failed`` (with the error text).
Every file is written with an atomic replace, so killing the process at any moment (even with
SIGKILL) leaves a checkpoint that loads and a history that parses.

A run started from the page runs in its own process (:func:`start_run`), in a new session,
so a browser refresh, "Clear cache" or a server restart neither stops nor duplicates it. One
run at a time per machine: the training process holds an exclusive ``flock`` on
``models/.train.lock`` for its whole life (the kernel drops it when the process dies, however
it dies), and ``models/.active.json`` names the run that holds it.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime as _dt
import fcntl
import functools
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from blasto.store import atomic
from blasto.train.augment import AugmentConfig, dataclass_from_dict
from blasto.errors import BlastoError, TrainingError
from blasto.model.unet import MODEL_FILES
from blasto.store.roots import REPO_ROOT, data_root, models_root

CONFIG, STATUS, HISTORY, BATCHES = "config.json", "status.json", "history.json", "batches.csv"
BEST, LAST, STOP, LOG = "best.keras", "last.weights.h5", "stop", "train.log"
OPTIMIZER_STATE = "last.optimizer.npz"  # the optimizer's moments, so that a resume carries on
LOCK_FILE, ACTIVE_FILE = ".train.lock", ".active.json"

STATES = ("starting", "running", "stopped", "early_stopped", "finished", "failed")
#: What to call each state on the page and in the command line.
STATE_LABELS = {
    "starting": "starting",
    "running": "running",
    "stopped": "stopped by hand",
    "early_stopped": "early-stopped",
    "finished": "finished",
    "failed": "failed",
}
LIVE_STATES = ("starting", "running")
OPTIMIZERS = ("adam", "rmsprop")
LOSSES = ("bce_dice", "bce")
SCHEDULES = ("cosine", "constant")
INITS = ("blasto", "keras")
EARLY_STOPPING = (None, "loss", "val_loss")
STATUS_EVERY_S = 0.5  # status.json is rewritten at most this often during an epoch


# -- configuration ------------------------------------------------------------------------------
@dataclasses.dataclass
class TrainConfig:
    """Everything a run needs; saved as the run's ``config.json``.

    The defaults are blasto's recipe (Adam with cosine decay, BCE + Dice loss); they reach a
    validation Dice at threshold 0.8 of at least 0.95 on the demo in 600 steps at batch 1
    (``bench/bench_train.py --accuracy``). ``TrainConfig.from_preset("seed", ...)`` is the lab's
    original recipe: RMSprop at its default rate, binary cross-entropy, constant rate.
    """

    experiment: str
    epochs: int = 12
    steps_per_epoch: int = 50
    batch_size: int = 1
    learning_rate: float = 3e-4
    optimizer: str = "adam"
    start_filters: int = 32
    dropout: bool = False  # the seed's dropout made validation swing at this budget (on/off option)
    early_stopping: str | None = None  # None, "loss" or "val_loss"
    patience: int = 5
    stop_at_val_loss: float | None = None  # the seed's "stop when val_loss <= 0.08" rule
    loss: str = "bce_dice"
    lr_schedule: str = "cosine"
    warmup_steps: int = 0
    # True: mixed bfloat16; False: float32; None: "auto", whichever this machine trains faster.
    mixed_precision: bool | None = None
    # Starting weights (not the architecture). "blasto": he_normal kernels, zero-mean first
    # layer, output bias at the training masks' cell fraction (see build_unet); "keras": the
    # seed's Keras defaults (glorot_uniform, zero bias).
    init: str = "blasto"
    threshold: float = 0.8  # for the validation Dice and IoU
    seed: int = 0
    preset: str = "blasto"
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)

    def __post_init__(self):
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig.from_dict(self.augment)
        if self.early_stopping in ("", "none", "off"):
            self.early_stopping = None
        self.validate()

    def validate(self) -> None:
        """Raise :class:`TrainingError` naming the first setting that makes no sense."""
        def positive(name):
            if int(getattr(self, name)) < 1:
                raise TrainingError(f"Training setting {name} must be at least 1; got {getattr(self, name)}.")

        for name in ("epochs", "steps_per_epoch", "batch_size", "start_filters", "patience"):
            positive(name)
        if not self.experiment:
            raise TrainingError("Pick the experiment to train on.")
        if not (0 < float(self.learning_rate) < 1):
            raise TrainingError(f"Learning rate must be between 0 and 1; got {self.learning_rate}.")
        for name, allowed in (("optimizer", OPTIMIZERS), ("loss", LOSSES), ("init", INITS),
                              ("lr_schedule", SCHEDULES), ("early_stopping", EARLY_STOPPING)):
            if getattr(self, name) not in allowed:
                raise TrainingError(f"Training setting {name}={getattr(self, name)!r}: use one of "
                                    f"{', '.join(str(a) for a in allowed)}.")
        if self.mixed_precision not in (None, True, False):
            raise TrainingError(f"Training setting mixed_precision={self.mixed_precision!r}: use "
                                "true (bfloat16), false (float32) or null (auto).")
        if not 0 < self.threshold < 1:
            raise TrainingError(f"Threshold must be between 0 and 1; got {self.threshold}.")
        if self.stop_at_val_loss is not None and self.stop_at_val_loss <= 0:
            raise TrainingError("Stop-at val_loss must be above 0.")
        if self.warmup_steps < 0 or self.warmup_steps >= self.total_steps:
            raise TrainingError("Warm-up steps must be fewer than epochs x steps per epoch.")
        self.augment.validate()

    @property
    def total_steps(self) -> int:
        return int(self.epochs) * int(self.steps_per_epoch)

    def to_dict(self) -> dict:
        values = dataclasses.asdict(self)
        values["augment"] = self.augment.to_dict()
        return values

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """Build from a dict (a run's config.json); unknown keys are refused."""
        return dataclass_from_dict(cls, values, what="training")

    @classmethod
    def from_preset(cls, name: str, *, experiment: str, **overrides) -> "TrainConfig":
        """A named recipe ("blasto" or "seed") with ``overrides`` on top.

        >>> TrainConfig.from_preset("seed", experiment="demo").optimizer
        'rmsprop'
        """
        if name not in PRESETS:
            raise TrainingError(f"Unknown preset {name!r}: use one of {', '.join(PRESETS)}.")
        # A deep copy: the caller may change the config (e.g. its augment) in place.
        values = {**copy.deepcopy(PRESETS[name]), "preset": name, **overrides}
        return cls(experiment=experiment, **values)


#: Named recipes. "seed" is the lab's notebook: RMSprop(1e-3), BCE, its augmentation.
PRESETS = {
    "blasto": {},
    "seed": {
        "optimizer": "rmsprop",
        "learning_rate": 1e-3,
        "dropout": True,
        "loss": "bce",
        "lr_schedule": "constant",
        "mixed_precision": False,
        "init": "keras",
        "augment": AugmentConfig.seed_preset(),
    },
}


# -- reading run folders (the Train page polls these) -----------------------------------------------
def _read_json(path, default):
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return default


def read_batches(run_dir) -> list[dict]:
    """The per-batch losses as ``[{"epoch", "step", "loss"}, ...]``; a torn line is skipped."""
    path = Path(run_dir) / BATCHES
    rows = []
    try:
        text = path.read_text()
    except FileNotFoundError:
        return rows
    for line in text.splitlines()[1:]:
        parts = line.split(",")
        if len(parts) != 3:
            continue
        try:
            rows.append({"epoch": int(parts[0]), "step": int(parts[1]), "loss": float(parts[2])})
        except ValueError:
            continue  # the last line of a killed run may be cut short
    return rows


_ASK_THE_LOCK = object()


def read_run(run_dir, *, batches=True, running=_ASK_THE_LOCK) -> dict:
    """Everything about one run: ``{"run_id", "path", "config", "status", "history", "batches",
    "active"}``. A run whose process died without saying so (killed) reads as ``failed``.

    ``batches=False`` skips reading the per-batch losses (``[]``); ``running``: what
    :func:`active_run` just said, for a caller that reads several runs at once.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise TrainingError(f"{run_dir}: no such run folder.")
    status = _read_json(run_dir / STATUS, {}) or {}
    active = same_path(active_run() if running is _ASK_THE_LOCK else running, run_dir)
    if status.get("state") in LIVE_STATES and not active:
        log = f" Its output is in {run_dir / LOG}." if (run_dir / LOG).is_file() else ""
        status = {**status, "state": "failed",
                  "error": status.get("error") or "The training process ended without saying why "
                                                  f"(killed, or the machine restarted).{log}"}
    return {
        "run_id": run_dir.name,
        "path": run_dir,
        "config": _read_json(run_dir / CONFIG, {}) or {},
        "status": status,
        "history": _read_json(run_dir / HISTORY, []) or [],
        "batches": read_batches(run_dir) if batches else [],
        "active": active,
    }


def same_path(a, b) -> bool:
    """Whether two paths (either may be None) name the same existing folder or file."""
    return a is not None and b is not None and Path(a).resolve() == Path(b).resolve()


def run_summary(run: dict) -> dict:
    """One row of the runs table from :func:`read_run`'s dict (settings, best val_loss, Dice)."""
    config, status, history = run["config"], run["status"], run["history"]
    scored = [h for h in history if h.get("val_loss") is not None]
    best = min(scored, key=lambda h: h["val_loss"]) if scored else {}
    return {
        "run_id": run["run_id"],
        "path": str(run["path"]),
        "experiment": config.get("experiment"),
        "state": status.get("state"),
        "status": STATE_LABELS.get(status.get("state"), status.get("state") or "?"),
        "error": status.get("error"),
        "active": run["active"],
        "epochs_done": len(history),
        "epochs": config.get("epochs"),
        "steps_per_epoch": config.get("steps_per_epoch"),
        "batch_size": config.get("batch_size"),
        "learning_rate": config.get("learning_rate"),
        "optimizer": config.get("optimizer"),
        "loss": config.get("loss"),
        "dropout": config.get("dropout"),
        "start_filters": config.get("start_filters"),
        "preset": config.get("preset"),
        "best_val_loss": best.get("val_loss"),
        "best_epoch": best.get("epoch"),
        "val_dice": best.get("val_dice"),
        "val_iou": best.get("val_iou"),
        "started": status.get("started"),
        "elapsed_s": status.get("elapsed_s"),
        "precision": status.get("precision") or _precision_label(config.get("mixed_precision")),
        "has_model": any((Path(run["path"]) / name).is_file() for name in MODEL_FILES),
    }


#: The precision choices (page and CLI) -> TrainConfig.mixed_precision.
PRECISIONS = {"auto": None, "float32": False, "bfloat16": True}


def _precision_label(mixed_precision) -> str:
    """The precision setting in words.

    >>> _precision_label(None), _precision_label(True), _precision_label(False)
    ('auto', 'mixed bfloat16', 'float32')
    """
    return {None: "auto", True: "mixed bfloat16", False: "float32"}[mixed_precision]


def list_runs(*, root=None) -> list[dict]:
    """Summaries (:func:`run_summary`) of every run under ``models/``, newest first.

    A folder counts as a run when it holds a ``config.json`` written by this module.
    """
    root = Path(root) if root else models_root()
    if not root.is_dir():
        return []
    runs, running = [], active_run()
    for folder in root.iterdir():
        if folder.is_dir() and not folder.name.startswith(".") and (folder / CONFIG).is_file():
            runs.append(run_summary(read_run(folder, batches=False, running=running)))
    return sorted(runs, key=lambda r: (r["started"] or "", r["run_id"]), reverse=True)


def resolve_run_dir(name_or_path) -> Path:
    """A run folder from a path or a run id under ``models/``."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    candidate = models_root() / str(name_or_path)
    if candidate.is_dir():
        return candidate
    raise TrainingError(f"No run folder {name_or_path!r} (looked in {models_root()}).")


def delete_run(run_dir) -> None:
    """Delete a run folder (refused for the run that is going, and for non-run folders)."""
    run_dir = resolve_run_dir(run_dir)
    if not (run_dir / CONFIG).is_file():
        raise TrainingError(f"{run_dir}: not a training run folder (no {CONFIG}); not deleted.")
    if same_path(active_run(), run_dir):
        raise TrainingError(f"Run {run_dir.name} is still training: stop it before deleting it.")
    shutil.rmtree(run_dir)


# -- the one-run-at-a-time lock ---------------------------------------------------------------
def _lock_path() -> Path:
    return models_root() / LOCK_FILE


def _open_lock():
    path = _lock_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def active_run() -> Path | None:
    """The folder of the run that is training now (on this machine), or None."""
    if not _lock_path().exists():
        return None
    fd = _open_lock()
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _announced_run()
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _acquire_lock(*, wait_s=1.0) -> int:
    """An fd holding the exclusive training lock, or :class:`TrainingError` naming the run."""
    fd = _open_lock()
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            # active_run() probes the lock for an instant: retry briefly before refusing.
            if time.monotonic() < deadline:
                time.sleep(0.05)
                continue
        os.close(fd)
        announced = _announced_run()
        running = announced.name if announced else "another run"
        raise TrainingError(
            f"A training run is already going on this machine: {running}. Only one run at a "
            "time: watch it on the Train page, or stop it (Stop button or `python -m blasto stop`)."
        )


def _announced_run() -> Path | None:
    """The run folder the lock holder announced (see :func:`_announce`), if any."""
    info = _read_json(models_root() / ACTIVE_FILE, {}) or {}
    return Path(info["run_dir"]) if info.get("run_dir") else None


def _announce(run_dir, pid) -> None:
    atomic.write_json(models_root() / ACTIVE_FILE, {"run_dir": str(Path(run_dir).resolve()), "pid": pid})


def request_stop(run_dir=None) -> Path:
    """Ask a run (default: the one going) to stop; it ends within one batch, keeping its best
    checkpoint, and its state becomes ``stopped`` ("stopped by hand")."""
    if run_dir is None:
        run_dir = active_run()
        if run_dir is None:
            raise TrainingError("No training run is going, so there is nothing to stop.")
    run_dir = resolve_run_dir(run_dir)
    atomic.write_text(run_dir / STOP, _now() + "\n")
    return run_dir


# -- starting runs ------------------------------------------------------------------------------
def _now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def new_run_dir(config: TrainConfig, *, root=None) -> Path:
    """Create and return a fresh folder ``models/<YYYYmmdd-HHMMSS>-<experiment>``."""
    root = Path(root) if root else models_root()
    root.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", config.experiment).strip("-.") or "run"
    base = f"{stamp}-{slug}"
    for n in range(1, 1000):
        folder = root / (base if n == 1 else f"{base}-{n}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise TrainingError(f"{root}: cannot find a free run folder name for {base}.")


def _initial_status(config: TrainConfig, run_dir, *, pid=None) -> dict:
    now = _now()
    return {
        "state": "starting", "error": None, "run_id": Path(run_dir).name,
        "experiment": config.experiment, "epoch": 0, "epochs": config.epochs, "step": 0,
        "steps_per_epoch": config.steps_per_epoch, "global_step": 0,
        "total_steps": config.total_steps, "started": now, "updated": now, "elapsed_s": 0.0,
        "eta_s": None, "best_val_loss": None, "best_epoch": None, "last_loss": None, "pid": pid,
    }


def _check_can_train(config: TrainConfig):
    """Refuse early (in the caller's process) when the experiment cannot be trained on."""
    from blasto.train.dataset import training_frames
    from blasto.store.experiment import open_experiment

    return training_frames(open_experiment(config.experiment))


def start_run(config: TrainConfig) -> Path:
    """Start a run in its own process and return its folder at once.

    Raises :class:`TrainingError` (naming the running run) when one is going, or when the
    experiment has nothing to train on. The new process inherits the lock, so two starts at the
    same moment give one run.
    """
    config.validate()
    _check_can_train(config)
    fd = _acquire_lock()
    try:
        run_dir = new_run_dir(config)
        atomic.write_json(run_dir / CONFIG, config.to_dict())
        atomic.write_json(run_dir / STATUS, _initial_status(config, run_dir))
        _announce(run_dir, None)
        process = _spawn(["--run-dir", str(run_dir)], run_dir, fd)
        _announce(run_dir, process.pid)
    finally:
        os.close(fd)  # the child holds the lock from here on
    return run_dir


def resume_run(run_dir, *, epochs=None) -> Path:
    """Resume a stopped (or killed, or early-stopped) run in its own process, from its last
    weights; ``epochs`` raises the number of epochs in all (a finished run needs more).
    Returns the run folder."""
    run_dir = resolve_run_dir(run_dir)
    config = resume_config(run_dir, epochs=epochs)  # refuse now if there is nothing to resume
    _check_can_train(config)
    fd = _acquire_lock()
    try:
        (run_dir / STOP).unlink(missing_ok=True)
        _announce(run_dir, None)
        more = ["--epochs", str(config.epochs)] if epochs is not None else []
        process = _spawn(["--resume", str(run_dir), *more], run_dir, fd)
        _announce(run_dir, process.pid)
    finally:
        os.close(fd)
    return run_dir


def _spawn(arguments, run_dir, lock_fd) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2",
               BLASTO_DATA=str(data_root().resolve()), BLASTO_MODELS=str(models_root().resolve()))
    os.set_inheritable(lock_fd, True)
    with open(Path(run_dir) / LOG, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "blasto", "train", *arguments, "--lock-fd", str(lock_fd)],
            cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, pass_fds=(lock_fd,), start_new_session=True,
        )


def load_config(run_dir) -> TrainConfig:
    path = Path(run_dir) / CONFIG
    values = _read_json(path, None)
    if not isinstance(values, dict):
        raise TrainingError(f"{path}: missing or not valid JSON; this is not a usable run folder.")
    return TrainConfig.from_dict(values)


@contextlib.contextmanager
def _training_lock(lock_fd=None):
    """Hold the training lock: the inherited one (``lock_fd``) or a fresh one."""
    if lock_fd is None:
        fd = _acquire_lock()
    else:
        fd = int(lock_fd)
        try:  # the lock came with the fd from start_run: make sure it is still ours
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (BlockingIOError, OSError) as exc:
            raise TrainingError(f"The training lock handed to this process is not usable ({exc}).") from None
    try:
        yield fd
    finally:
        os.close(fd)


# -- the training itself ----------------------------------------------------------------------------
def train(config: TrainConfig, *, run_dir=None, progress=None, resume=False, lock_fd=None,
          stop_event=None) -> Path:
    """Train in this process (blocking) and return the run folder.

    ``run_dir``: the folder to use (default: a new one; a folder prepared by :func:`start_run`
    is used as is). ``resume``: continue the run in ``run_dir`` from its last weights.
    ``progress(status)`` is called after every batch and epoch with the status dict.
    ``stop_event`` (a ``threading.Event``): set it to stop like the stop file does.
    """
    config.validate()
    with _training_lock(lock_fd):
        if resume:
            run_dir = resolve_run_dir(run_dir)
            if lock_fd is None:  # resumed from a shell: an old stop request no longer applies
                (run_dir / STOP).unlink(missing_ok=True)
            for leftover in run_dir.glob(".*.tmp"):  # a killed run's unfinished atomic writes
                leftover.unlink(missing_ok=True)
        else:
            run_dir = Path(run_dir) if run_dir else new_run_dir(config)
            run_dir.mkdir(parents=True, exist_ok=True)
            if _read_json(run_dir / HISTORY, []):
                raise TrainingError(f"{run_dir} already holds a run: resume it instead (--resume).")
        atomic.write_json(run_dir / CONFIG, config.to_dict())  # a resume may bring more epochs
        _announce(run_dir, os.getpid())
        status = _initial_status(config, run_dir, pid=os.getpid())
        if resume:
            previous = _read_json(run_dir / STATUS, {}) or {}
            status.update(started=previous.get("started", status["started"]),
                          elapsed_s=previous.get("elapsed_s") or 0.0,
                          best_val_loss=previous.get("best_val_loss"),
                          best_epoch=previous.get("best_epoch"))
        atomic.write_json(run_dir / STATUS, status)
        try:
            _fit(config, run_dir, status, progress=progress, resume=resume, stop_event=stop_event)
        except BaseException as exc:
            status["state"] = "stopped" if isinstance(exc, KeyboardInterrupt) else "failed"
            status["error"] = _error_text(exc)
            status["updated"] = _now()
            atomic.write_json(run_dir / STATUS, status)
            if progress:
                progress(dict(status))
            raise
    return run_dir


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "Interrupted."
    if isinstance(exc, BlastoError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def resume_config(run_dir, *, epochs=None) -> TrainConfig:
    """The config to resume the run in ``run_dir`` with, ``epochs`` in all if given; raises
    :class:`TrainingError` when there is nothing to resume."""
    config = load_config(run_dir)
    if epochs is not None:
        config.epochs = int(epochs)
        config.validate()
    _resume_point(run_dir, config)
    return config


def resume_refusal(run_dir, *, epochs=None) -> str | None:
    """Why the run in ``run_dir`` cannot be resumed with ``epochs`` in all, or None if it can
    (the Resume button's state; :func:`resume_run` raises the same text)."""
    try:
        resume_config(run_dir, epochs=epochs)
    except TrainingError as exc:
        return str(exc)
    return None


def _resume_point(run_dir, config) -> tuple[int, int, list]:
    """(epochs done, steps done, history) of a run to resume, or :class:`TrainingError`."""
    history = _read_json(Path(run_dir) / HISTORY, []) or []
    if not history or not (Path(run_dir) / LAST).is_file():
        raise TrainingError(f"Run {Path(run_dir).name} has no finished epoch to resume from; "
                            "start a new run instead.")
    done = int(history[-1]["epoch"])
    if done >= config.epochs:
        raise TrainingError(f"Run {Path(run_dir).name} has done all its {config.epochs} epochs; "
                            "give it more epochs to resume it.")
    return done, sum(int(h.get("steps", config.steps_per_epoch)) for h in history), history


def _fit(config: TrainConfig, run_dir: Path, status: dict, *, progress, resume, stop_event):
    import keras

    from blasto.train.dataset import training_dataset, training_frames, validation_dataset
    from blasto.store.experiment import open_experiment
    from blasto.model.unet import build_unet

    train_frames, val_frames = training_frames(open_experiment(config.experiment))
    initial_epoch, initial_step, history = 0, 0, []
    if resume:
        initial_epoch, initial_step, history = _resume_point(run_dir, config)
        _trim_batches(run_dir, initial_epoch)
    else:
        atomic.write_text(run_dir / BATCHES, "epoch,step,loss\n")
        atomic.write_json(run_dir / HISTORY, [])

    mixed = _resolve_precision(config, run_dir, status)
    keras.utils.set_random_seed(config.seed)
    size = int(train_frames.images.shape[1])
    options = dict(input_size=size, start_filters=config.start_filters, dropout=config.dropout)
    model = build_unet(**options, mixed_precision=mixed, **_init_options(config, train_frames))
    # Checkpoints are saved from a float32 twin without optimizer state: small, loadable anywhere.
    twin = build_unet(**options)
    if resume:
        model.load_weights(run_dir / LAST)
    optimizer = make_optimizer(config)
    model.compile(optimizer=optimizer, loss=make_loss(config.loss))
    if initial_step:
        optimizer.build(model.trainable_variables)
        status["optimizer_state_restored"] = _restore_optimizer_state(
            optimizer, run_dir / OPTIMIZER_STATE, epoch=initial_epoch)
        optimizer.iterations.assign(initial_step)  # the schedule carries on where it was

    recorder = _recorder_class()(
        run_dir=run_dir, config=config, status=status, history=history,
        validation_data=validation_dataset(val_frames), twin=twin, progress=progress,
        stop_event=stop_event, initial_step=initial_step,
    )
    dataset = training_dataset(train_frames, batch_size=config.batch_size,
                               augment=config.augment, seed=config.seed + initial_epoch)
    try:
        model.fit(dataset, epochs=config.epochs, steps_per_epoch=config.steps_per_epoch,
                  initial_epoch=initial_epoch, callbacks=[recorder], verbose=0, shuffle=False)
    finally:
        recorder.close()
    recorder.finish()


def _save_optimizer_state(optimizer, path: Path, *, epoch: int) -> None:
    """The optimizer's variables (Adam's moments, RMSprop's averages) after ``epoch``, atomic."""
    values = {f"v{i}": variable.numpy() for i, variable in enumerate(optimizer.variables)}
    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, epoch=epoch, **values)


def _restore_optimizer_state(optimizer, path: Path, *, epoch: int) -> bool:
    """Load the state :func:`_save_optimizer_state` wrote after ``epoch`` into a built optimizer.

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


def _resolve_precision(config: TrainConfig, run_dir: Path, status: dict) -> bool:
    """Mixed bfloat16 or not; "auto" (None) picks what this machine trains faster (measured
    once per machine, see :mod:`blasto.train.number_format`). The choice goes into status.json."""
    if config.mixed_precision is None:
        from blasto.train.number_format import choose_mixed_precision

        status["precision"] = "auto: timing float32 against bfloat16 (once per machine)"
        atomic.write_json(run_dir / STATUS, status)
        mixed, status["precision_reason"] = choose_mixed_precision()
        status["precision"] = f"{_precision_label(mixed)} (auto)"
    else:
        mixed = bool(config.mixed_precision)
        status["precision"] = _precision_label(mixed)
    atomic.write_json(run_dir / STATUS, status)
    return mixed


def _init_options(config: TrainConfig, train_frames) -> dict:
    """build_unet's starting-weight options for ``config.init``."""
    if config.init == "keras":
        return {"kernel_initializer": "glorot_uniform", "zero_mean_first_layer": False}
    return {"kernel_initializer": "he_normal", "zero_mean_first_layer": True,
            "output_bias": _prior_logit(train_frames.masks)}


def _prior_logit(masks) -> float:
    """logit of the fraction of cell pixels (clipped away from 0 and 1).

    >>> round(_prior_logit(np.array([True, False, False, False])), 3)
    -1.099
    """
    fraction = min(max(float(np.mean(masks)), 1e-3), 1 - 1e-3)
    return math.log(fraction / (1 - fraction))


def _trim_batches(run_dir, epochs_done):
    """Drop batch lines past the last recorded epoch (a killed run's unfinished epoch)."""
    rows = [r for r in read_batches(run_dir) if r["epoch"] <= epochs_done]
    lines = ["epoch,step,loss"] + [f"{r['epoch']},{r['step']},{r['loss']:.6g}" for r in rows]
    atomic.write_text(Path(run_dir) / BATCHES, "\n".join(lines) + "\n")


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


@functools.cache
def _recorder_class():
    """:class:`_RecorderLogic` as a Keras callback (Keras is imported only when training)."""
    import keras

    class RunRecorder(_RecorderLogic, keras.callbacks.Callback):
        pass

    return RunRecorder


class _RecorderLogic:
    """Writes the run folder as training goes, validates each epoch, keeps the best checkpoint,
    and stops training on a stop request, early stopping, or the stop-at-val_loss rule."""

    def __init__(self, *, run_dir, config, status, history, validation_data, twin, progress,
                 stop_event, initial_step):
        super().__init__()
        self.run_dir, self.config, self.status, self.history = Path(run_dir), config, status, history
        self.validation_data, self.twin = validation_data, twin
        self.progress, self.stop_event = progress, stop_event
        self.global_step = initial_step
        self.steps_this_run = 0
        self.reason = None  # "stopped" | "early_stopped" when training is ended early
        self.best_val_loss = status.get("best_val_loss")
        monitored = [h.get(config.early_stopping) for h in history] if config.early_stopping else []
        monitored = [m for m in monitored if m is not None]
        self.best_monitored = min(monitored) if monitored else math.inf
        self.wait = 0
        self.t0 = time.monotonic()
        self.elapsed_before = float(status.get("elapsed_s") or 0.0)
        self.last_status_write = 0.0
        self.epoch_mean, self.epoch_steps = 0.0, 0
        self.batches = open(self.run_dir / BATCHES, "a", buffering=1)

    # -- status -------------------------------------------------------------------------------
    def _elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.t0

    def _write_status(self, *, force=False, **changes):
        self.status.update(changes)
        now = time.monotonic()
        if force or now - self.last_status_write >= STATUS_EVERY_S:
            remaining = self.config.total_steps - self.global_step
            rate = (now - self.t0) / self.steps_this_run if self.steps_this_run else None
            self.status.update(
                updated=_now(), elapsed_s=round(self._elapsed(), 1), global_step=self.global_step,
                eta_s=round(rate * remaining, 1) if rate is not None else None,
            )
            atomic.write_json(self.run_dir / STATUS, self.status)
            self.last_status_write = now
        if self.progress:
            self.progress(self._progress_view())

    def _progress_view(self) -> dict:
        return {**self.status, "run_dir": str(self.run_dir), "global_step": self.global_step,
                "epochs_done": len(self.history),
                "last_epoch": self.history[-1] if self.history else None}

    def _stop_requested(self) -> bool:
        return (self.run_dir / STOP).exists() or bool(self.stop_event and self.stop_event.is_set())

    # -- keras hooks ------------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._write_status(force=True, state="running", pid=os.getpid())

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_mean, self.epoch_steps = 0.0, 0
        self._write_status(force=True, epoch=epoch + 1, step=0)

    def on_train_batch_end(self, batch, logs=None):
        # Keras reports the running mean of the epoch; recover this batch's own loss from it.
        mean = float((logs or {}).get("loss", math.nan))
        self.epoch_steps += 1
        loss = mean * self.epoch_steps - self.epoch_mean * (self.epoch_steps - 1)
        self.epoch_mean = mean
        self.global_step += 1
        self.steps_this_run += 1
        epoch = self.status["epoch"]
        self.batches.write(f"{epoch},{self.epoch_steps},{loss:.6g}\n")
        if self._stop_requested():
            self.model.stop_training = True
            self.reason = "stopped"
        self._write_status(step=self.epoch_steps, last_loss=loss)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        scores = self._validate()
        logs.update(scores)
        entry = {
            "epoch": epoch + 1,
            "loss": float(logs.get("loss", math.nan)),
            **scores,
            "lr": self._learning_rate(),
            "steps": self.epoch_steps,
            "partial": self.epoch_steps < self.config.steps_per_epoch,
            "elapsed_s": round(self._elapsed(), 1),
        }
        self.history.append(entry)
        self._save_weights(scores["val_loss"], epoch + 1)
        atomic.write_json(self.run_dir / HISTORY, self.history)
        self._check_early_stopping(entry)
        self._write_status(force=True)

    # -- pieces ---------------------------------------------------------------------------------------
    def _validate(self) -> dict:
        """val_loss (the training loss), val_bce, and mean per-frame Dice/IoU at the threshold."""
        from blasto.masks import dice, iou
        from blasto.model.unet import compiled_forward

        forward = compiled_forward(self.model)
        loss_fn, bce_fn = make_loss(self.config.loss), make_loss("bce")
        losses, bces, dices, ious = [], [], [], []
        for images, masks in self.validation_data:
            p = forward(images)
            losses.extend(np.asarray(loss_fn(masks, p)).tolist())
            bces.extend(np.asarray(bce_fn(masks, p)).tolist())
            predicted = np.asarray(p)[..., 0] > self.config.threshold
            truth = np.asarray(masks)[..., 0] > 0.5
            for pred_frame, true_frame in zip(predicted, truth):
                dices.append(dice(pred_frame, true_frame))
                ious.append(iou(pred_frame, true_frame))
        return {"val_loss": float(np.mean(losses)), "val_bce": float(np.mean(bces)),
                "val_dice": float(np.mean(dices)), "val_iou": float(np.mean(ious))}

    def _learning_rate(self) -> float:
        rate = self.model.optimizer.learning_rate
        try:
            return float(rate.numpy() if hasattr(rate, "numpy") else rate)
        except (TypeError, ValueError):
            return float(self.config.learning_rate)

    def _save_weights(self, val_loss, epoch):
        """last.weights.h5 every epoch; best.keras when val_loss improves; both atomic."""
        self.twin.set_weights(self.model.get_weights())
        with atomic.atomic_path(self.run_dir / LAST, suffix=".weights.h5") as tmp:
            self.twin.save_weights(tmp)
        _save_optimizer_state(self.model.optimizer, self.run_dir / OPTIMIZER_STATE, epoch=epoch)
        if self.best_val_loss is None or val_loss < self.best_val_loss:
            with atomic.atomic_path(self.run_dir / BEST, suffix=".keras") as tmp:
                self.twin.save(tmp)
            self.best_val_loss = val_loss
            self.status.update(best_val_loss=val_loss, best_epoch=epoch)

    def _check_early_stopping(self, entry):
        config = self.config
        if config.stop_at_val_loss is not None and entry["val_loss"] <= config.stop_at_val_loss:
            self._end_early()
        if config.early_stopping:
            value = entry.get(config.early_stopping)
            if value is not None and value < self.best_monitored:
                self.best_monitored, self.wait = value, 0
            else:
                self.wait += 1
                if self.wait >= config.patience:
                    self._end_early()

    def _end_early(self):
        self.model.stop_training = True
        if self.reason is None:
            self.reason = "early_stopped"

    def close(self):
        self.batches.close()

    def finish(self):
        """Write the final state once ``fit`` has returned: it ran all epochs unless stopped."""
        self._write_status(force=True, state=self.reason or "finished", eta_s=0.0)


# -- evaluation -------------------------------------------------------------------------------------
def evaluate(experiment_name: str, model_path, *, threshold=0.8, batch_size=8) -> dict:
    """Dice and IoU (at ``threshold``) of a model on every validation frame of an experiment.

    Returns ``{"experiment", "model", "threshold", "dice_mean", "iou_mean", "frames": [{"source",
    "dice", "iou"}, ...]}``.
    """
    from blasto.train.dataset import collect_frames
    from blasto.store.experiment import open_experiment
    from blasto.masks import dice, iou
    from blasto.model.unet import load_model, model_file, predict_probabilities, resolve_model

    if not 0 < threshold < 1:
        raise TrainingError(f"Threshold must be between 0 and 1; got {threshold}.")
    experiment = open_experiment(experiment_name)
    frames = collect_frames(experiment, "validation")
    if not len(frames):
        raise TrainingError(f"Experiment {experiment.name!r} has no annotated validation frame to "
                            "evaluate on.")
    file = model_file(resolve_model(model_path))
    probabilities = predict_probabilities(load_model(file), frames.images, batch_size=batch_size)
    rows = []
    for source, p, truth in zip(frames.sources, probabilities, frames.masks):
        predicted = p > threshold
        rows.append({"source": source, "dice": dice(predicted, truth), "iou": iou(predicted, truth)})
    return {
        "experiment": experiment.name, "model": str(file), "threshold": threshold,
        "dice_mean": float(np.mean([r["dice"] for r in rows])),
        "iou_mean": float(np.mean([r["iou"] for r in rows])),
        "frames": rows,
    }
