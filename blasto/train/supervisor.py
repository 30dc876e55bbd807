"""One training run at a time, each in its own process: start, resume, stop, and which is going.

A run started from the page (:func:`start_run`, :func:`resume_run`) trains in its own process,
``python -m blasto.train.worker RUN_DIR [--resume] --lock-fd N``, in a new session, so a
browser refresh, "Clear cache" or a server restart neither stops nor duplicates it.

One run at a time per machine: the training process holds an exclusive ``flock`` on
``models/.train.lock`` for its whole life (the kernel drops it when the process dies, however
it dies), and ``models/.active.json`` names the run that holds it. The supervisor takes the
lock before it starts the process and hands it over (the child inherits the descriptor), so
two starts at the same moment give one run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

from blasto.errors import TrainingError
from blasto.store import atomic
from blasto.store.roots import REPO_ROOT, data_root, models_root
from blasto.train.config import TrainConfig
from blasto.train.records import RunStatus
from blasto.train.runs import LOG, Run, read_json, new_run, resolve_run

LOCK_FILE, ACTIVE_FILE = ".train.lock", ".active.json"


# -- the lock ---------------------------------------------------------------------------------
def _lock_path() -> Path:
    return models_root() / LOCK_FILE


def _open_lock() -> int:
    path = _lock_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def active_run_dir() -> Path | None:
    """The folder of the run that is training now (on this machine), or None."""
    if not _lock_path().exists():
        return None
    fd = _open_lock()
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _announced_run_dir()
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def active_run() -> Run | None:
    """The run that is training now, or None."""
    folder = active_run_dir()
    return Run(folder, active=True) if folder is not None and folder.is_dir() else None


def acquire_lock(*, wait_s=1.0) -> int:
    """A descriptor holding the exclusive training lock, or :class:`TrainingError` naming the
    run that holds it."""
    fd = _open_lock()
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            # active_run_dir() probes the lock for an instant: retry briefly before refusing.
            if time.monotonic() < deadline:
                time.sleep(0.05)
                continue
        os.close(fd)
        announced = _announced_run_dir()
        running = announced.name if announced else "another run"
        raise TrainingError(
            f"A training run is already going on this machine: {running}. Only one run at a "
            "time: watch it on the Train page, or stop it (Stop button or `python -m blasto stop`)."
        )


@contextlib.contextmanager
def training_lock(lock_fd=None):
    """Hold the training lock while the block runs: the inherited one (``lock_fd``, handed
    over by :func:`start_run`) or a fresh one."""
    if lock_fd is None:
        fd = acquire_lock()
    else:
        fd = int(lock_fd)
        try:  # the lock came with the descriptor: make sure it is still ours
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (BlockingIOError, OSError) as exc:
            raise TrainingError(f"The training lock handed to this process is not usable ({exc}).") from None
    try:
        yield fd
    finally:
        os.close(fd)


def _announced_run_dir() -> Path | None:
    """The run folder the lock holder announced (see :func:`announce`), if any."""
    info = read_json(models_root() / ACTIVE_FILE, {})
    return Path(info["run_dir"]) if isinstance(info, dict) and info.get("run_dir") else None


def announce(run: Run, pid) -> None:
    """Say which run holds the lock (and its process id, once known)."""
    atomic.write_json(models_root() / ACTIVE_FILE, {"run_dir": str(run.path.resolve()), "pid": pid})


# -- starting, resuming, stopping -----------------------------------------------------------------
def _check_can_train(config: TrainConfig) -> None:
    """Refuse early (in the caller's process) when the experiment cannot be trained on."""
    from blasto.store.experiment import open_experiment
    from blasto.train.dataset import training_frames

    training_frames(open_experiment(config.experiment))


def start_run(config: TrainConfig) -> Run:
    """Start a run in its own process and return it at once.

    Raises :class:`TrainingError` (naming the running run) when one is going, or when the
    experiment has nothing to train on.
    """
    _check_can_train(config)
    fd = acquire_lock()
    try:
        run = new_run(config)
        run.write_config(config)
        run.write_status(RunStatus.starting(config, run.name))
        _spawn(run, fd, resume=False)
    finally:
        os.close(fd)  # the child holds the lock from here on
    return run


def resume_run(run, *, epochs=None) -> Run:
    """Resume a stopped (or killed, or early-stopped) run in its own process, from its last
    finished epoch; ``epochs`` raises the number of epochs in all (a finished run needs more)."""
    run = resolve_run(run)
    config = run.resume_config(epochs=epochs)  # refuse now if there is nothing to resume
    _check_can_train(config)
    fd = acquire_lock()
    try:
        run.clear_stop()  # an old stop request no longer applies
        run.write_config(config)  # it may bring more epochs
        _spawn(run, fd, resume=True)
    finally:
        os.close(fd)
    return run.reload()


def _spawn(run: Run, lock_fd: int, *, resume: bool) -> None:
    announce(run, None)
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2",
               BLASTO_DATA=str(data_root().resolve()), BLASTO_MODELS=str(models_root().resolve()))
    os.set_inheritable(lock_fd, True)
    command = [sys.executable, "-m", "blasto.train.worker", str(run.path.resolve()),
               *(["--resume"] if resume else []), "--lock-fd", str(lock_fd)]
    with open(run.path / LOG, "ab") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, pass_fds=(lock_fd,),
                                   start_new_session=True)
    announce(run, process.pid)


def request_stop(run=None) -> Run:
    """Ask a run (default: the one training now) to stop; it ends within one batch, keeping its
    best checkpoint, and its state becomes ``stopped`` ("stopped by hand")."""
    if run is None:
        run = active_run()
        if run is None:
            raise TrainingError("No training run is going, so there is nothing to stop.")
    run = resolve_run(run)
    run.request_stop()
    return run
