"""Training runs: run folders, loss falling, stop within one batch, early stopping, resume,
SIGKILL safety, one run at a time, the worker process, refusals. Tiny models (4 filters) on
32x32 frames."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from blasto.errors import BlastoError, TrainingError
from blasto.model.files import load_model
from blasto.store.roots import REPO_ROOT
from blasto.train import supervisor
from blasto.train.callbacks import ResumableEarlyStopping, restore_optimizer_state
from blasto.train.config import STATE_LABELS, TrainConfig
from blasto.train.recipe import make_optimizer
from blasto.train.runs import OPTIMIZER_STATE, Run, delete_run, list_runs
from blasto.train.supervisor import active_run, request_stop, start_run
from blasto.train.worker import train
from synthetic import tiny_experiment


def tiny_config(**overrides):
    values = dict(experiment="tiny", epochs=3, steps_per_epoch=8, batch_size=4,
                  learning_rate=1e-2, start_filters=4, mixed_precision=False)
    return TrainConfig(**{**values, **overrides})


def wait_for(condition, timeout=90, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_loss_falls_and_the_run_folder_holds_everything(roots):
    tiny_experiment()
    seen = []
    run = train(tiny_config(epochs=4, dropout=False, learning_rate=3e-3), progress=seen.append)
    history = run.history
    assert [h.epoch for h in history] == [1, 2, 3, 4]
    assert history[-1].loss < 0.8 * history[0].loss
    assert history[-1].val_loss < history[0].val_loss
    assert all(0.0 <= h.val_dice <= 1.0 and 0.0 <= h.val_iou <= 1.0 for h in history)
    assert 0 == history[-1].lr < history[0].lr < 3e-3  # the cosine schedule, read each epoch
    status = run.status
    assert status.state == "finished" and status.epoch == 4 and status.step == 8
    assert status.best_val_loss == min(h.val_loss for h in history) == run.best.val_loss
    assert status.eta_s == 0.0
    assert [(b.epoch, b.step) for b in run.batches()] == [(e, s) for e in range(1, 5) for s in range(1, 9)]
    saved = json.loads((run.path / "config.json").read_text())
    assert run.config.start_filters == 4 and saved["augment"]["rotation_deg"] == 180
    assert load_model(run.path).count_params() == load_model(run.path / "best.keras").count_params()
    assert (run.path / "last.weights.h5").is_file() and run.model_file == run.path / "best.keras"
    assert run.path.parent == roots[1] and run.name.endswith("-tiny")
    assert seen and seen[-1].status.state == "finished" and seen[-1].epochs_done == 4
    [listed] = list_runs()
    summary = listed.summary()
    assert summary.run_id == run.name and summary.label == "finished"
    assert summary.best_val_loss == status.best_val_loss and summary.has_model


def test_stop_request_ends_fit_within_one_batch_then_resume_finishes(roots):
    tiny_experiment()
    config = tiny_config(epochs=3)

    def stop_at_step_11(progress):
        if progress.status.global_step == 11 and not (progress.run_dir / "stop").exists():
            request_stop(progress.run_dir)

    run = train(config, progress=stop_at_step_11)
    # Asked after batch 11, i.e. while batch 12 runs: training ends when batch 12 is done.
    assert len(run.batches()) == 12
    assert run.status.state == "stopped"
    assert STATE_LABELS["stopped"] == "stopped by hand"
    # The partial epoch was still validated and checkpointed.
    assert [h.epoch for h in run.history] == [1, 2] and run.history[-1].partial
    assert run.history[-1].steps == 4
    load_model(run.path)
    # Adam's moments were kept with the last weights, for the epoch the history ends at.
    optimizer = make_optimizer(config)
    optimizer.build(load_model(run.path).trainable_variables)
    state = run.path / OPTIMIZER_STATE
    assert not restore_optimizer_state(optimizer, state, epoch=1)
    assert restore_optimizer_state(optimizer, state, epoch=2)
    with np.load(state) as saved:
        assert int(saved["epoch"]) == 2 and int(optimizer.iterations.numpy()) == 12
        assert np.array_equal(optimizer.variables[-1].numpy(), saved[f"v{len(optimizer.variables) - 1}"])
        assert np.abs(optimizer.variables[-1].numpy()).max() > 0

    run = train(config, run_dir=run.path, resume=True)
    assert run.status.state == "finished" and run.status.optimizer_state_restored
    assert [h.epoch for h in run.history] == [1, 2, 3]
    assert not (run.path / "stop").exists()
    assert len(run.batches()) == 12 + 8
    with pytest.raises(TrainingError, match="done all its 3 epochs"):
        train(config, run_dir=run.path, resume=True)
    # What the Resume button shows: refused as planned, allowed with more epochs.
    assert "done all its 3 epochs" in run.resume_refusal()
    assert run.resume_refusal(epochs=4) is None
    with pytest.raises(TrainingError, match="done all its 3 epochs"):
        supervisor.resume_run(run)


def test_stop_at_val_loss_ends_early(roots):
    tiny_experiment()
    run = train(tiny_config(epochs=5, steps_per_epoch=4, stop_at_val_loss=50.0))
    assert run.status.state == "early_stopped" and len(run.history) == 1
    assert STATE_LABELS["early_stopped"] == "early-stopped"


def test_keras_early_stopping_ends_fit_as_early_stopped(roots):
    tiny_experiment()
    # A learning rate far below float32's resolution of the weights: they never change, so
    # val_loss never improves and early stopping ends the run after `patience` epochs.
    run = train(tiny_config(epochs=6, steps_per_epoch=2, learning_rate=1e-12,
                            early_stopping="val_loss", patience=2))
    assert run.status.state == "early_stopped"
    assert [h.epoch for h in run.history] == [1, 2, 3]
    assert len({h.val_loss for h in run.history}) == 1


@pytest.mark.parametrize("monitor", ["loss", "val_loss"])
def test_early_stopping_waits_patience_epochs_and_resumes_where_it_was(monitor):
    from types import SimpleNamespace

    def stops_after(values, *, earlier=()):
        callback = ResumableEarlyStopping(monitor=monitor, patience=2, earlier=earlier)
        callback.set_model(SimpleNamespace(stop_training=False))
        callback.on_train_begin()
        for epoch, value in enumerate(values, start=len(earlier)):
            callback.on_epoch_end(epoch, {"loss": 1.0, "val_loss": 1.0, monitor: value})
            if callback.model.stop_training:
                return epoch + 1
        return None

    assert stops_after([1.0, 0.9, 0.95, 0.9]) == 4  # two epochs without a new best
    assert stops_after([1.0, 0.9, 0.95, 0.8, 0.85]) is None
    # Resumed after [1.0, 0.9, 0.95]: one epoch waited already, the best is still 0.9.
    assert stops_after([0.9], earlier=[1.0, 0.9, 0.95]) == 4
    assert stops_after([0.85, 0.9], earlier=[1.0, 0.9, 0.95]) is None


def test_failure_is_recorded_with_the_error(roots, monkeypatch):
    tiny_experiment()

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("blasto.train.recipe.make_optimizer", broken)
    with pytest.raises(RuntimeError):
        train(tiny_config())
    [run] = list_runs()
    assert run.status.state == "failed" and "disk on fire" in run.status.error
    assert active_run() is None  # the lock went with the failure


def test_refusals(roots):
    tiny_experiment(empty_masks=True)
    with pytest.raises(TrainingError, match="every mask"):
        start_run(tiny_config())
    assert list_runs() == [] and list(roots[1].glob("2*")) == []  # no folder left behind
    with pytest.raises(BlastoError, match="No experiment called 'other'"):
        start_run(tiny_config(experiment="other"))
    with pytest.raises(TrainingError, match="epochs must be at least 1"):
        tiny_config(epochs=0)
    with pytest.raises(TrainingError, match="optimizer='sgd'"):
        tiny_config(optimizer="sgd")
    with pytest.raises(dataclasses.FrozenInstanceError):
        tiny_config().epochs = 0  # checked once, when made: a change makes a new config
    with pytest.raises(TrainingError, match="epochs must be at least 1"):
        dataclasses.replace(tiny_config(), epochs=0)
    with pytest.raises(TrainingError, match="No training run is going"):
        request_stop()


def test_a_second_start_is_refused_naming_the_running_run(roots):
    tiny_experiment()
    holder = supervisor.acquire_lock()  # as a training process holds it
    announced = roots[1] / "20261127-113000-tiny"
    announced.mkdir()
    supervisor.announce(Run(announced), os.getpid())
    try:
        assert active_run().name == "20261127-113000-tiny"
        with pytest.raises(TrainingError, match="already going on this machine: 20261127-113000-tiny"):
            start_run(tiny_config())
        with pytest.raises(TrainingError, match="already going"):
            train(tiny_config())
    finally:
        os.close(holder)
    assert active_run() is None


def test_presets():
    seed = TrainConfig.from_preset("seed", experiment="demo")
    assert (seed.optimizer, seed.learning_rate, seed.loss, seed.lr_schedule) == ("rmsprop", 1e-3, "bce", "constant")
    assert seed.augment.shear_deg == 0.2
    assert seed.init == "keras"  # glorot_uniform, zero bias: the seed's Keras defaults
    blasto = TrainConfig(experiment="demo")
    assert blasto.total_steps == 600 and blasto.batch_size == 1 and blasto.threshold == 0.8
    assert blasto.early_stopping is None and blasto.stop_at_val_loss is None
    assert blasto.init == "blasto"
    assert TrainConfig.from_dict(json.loads(json.dumps(seed.to_dict()))) == seed


# -- real training processes ----------------------------------------------------------------------------
def test_two_simultaneous_starts_give_one_run_and_stop_from_another_shell(roots):
    from blasto.cli.main import main

    tiny_experiment()
    config = tiny_config(epochs=1000, steps_per_epoch=5)  # runs until stopped
    results = []

    def start():
        try:
            results.append(start_run(config))
        except TrainingError as exc:
            results.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    runs = [r for r in results if not isinstance(r, Exception)]
    refusals = [r for r in results if isinstance(r, Exception)]
    assert len(runs) == 1 and len(refusals) == 1
    run = runs[0]
    assert run.name in str(refusals[0])
    assert len(list_runs()) == 1
    assert active_run() == run
    with pytest.raises(TrainingError, match="already going"):
        start_run(config)  # a later Start (another tab) sees the running one
    wait_for(lambda: len(run.reload().history) >= 1, what="an epoch")
    with pytest.raises(TrainingError, match="still training"):
        delete_run(run)

    assert main(["stop", "--wait", "--timeout", "60"]) == 0
    run = run.reload()
    assert run.status.state == "stopped", (run.path / "train.log").read_text()
    assert len(run.history) < 1000
    assert active_run() is None
    load_model(run.path)
    delete_run(run)
    assert not run.path.exists()


def test_sigkill_mid_run_leaves_a_loadable_checkpoint_and_parseable_history(roots):
    tiny_experiment()
    run_dir = start_run(tiny_config(epochs=1000, steps_per_epoch=5)).path  # runs until killed

    def past_first_epoch():
        status = json.loads((run_dir / "status.json").read_text())
        return status if status["epoch"] >= 2 and status["state"] == "running" else None

    # Tiny epochs last milliseconds, so "mid-epoch" cannot be aimed at: kill it wherever it is
    # after the first checkpoint (training, validating or writing a file).
    status = wait_for(past_first_epoch, what="the second epoch")
    os.kill(status["pid"], signal.SIGKILL)
    wait_for(lambda: active_run() is None, timeout=10, what="the lock to go")
    run = Run(run_dir)
    assert run.status.state == "failed" and "ended without saying why" in run.status.error
    assert len(run.history) >= 1 and json.loads((run_dir / "history.json").read_text())
    assert all(isinstance(b.loss, float) for b in run.batches())
    load_model(run_dir)
    # A kill can land inside an atomic write: its temporary file stays behind, hidden, and
    # every file under its real name is whole.
    assert all(p.name.startswith(".") for p in run_dir.glob("*.tmp"))
    for name in ("config.json", "status.json", "history.json"):
        json.loads((run_dir / name).read_text())
    # The killed run resumes from its last finished epoch.
    done = len(run.history)
    resumed = train(run.config, run_dir=run_dir, resume=True,
                    progress=lambda p: p.status.global_step >= 5 * done + 2 and request_stop(run_dir))
    assert resumed.status.state == "stopped"
    assert [h.epoch for h in resumed.history][:done + 1] == list(range(1, done + 2))


def test_the_worker_entry_point_trains_a_run_prepared_by_the_supervisor(roots):
    """What start_run does, by hand: config.json written once, the lock handed over, then
    ``python -m blasto.train.worker RUN_DIR --lock-fd N`` trains the run to the end."""
    from blasto.train.records import RunStatus
    from blasto.train.runs import new_run

    tiny_experiment()
    config = tiny_config(epochs=2, steps_per_epoch=3)
    fd = supervisor.acquire_lock()
    try:
        run = new_run(config)
        run.write_config(config)
        written = (run.path / "config.json").stat().st_mtime_ns
        run.write_status(RunStatus.starting(config, run.name))
        os.set_inheritable(fd, True)
        done = subprocess.run(
            [sys.executable, "-m", "blasto.train.worker", str(run.path), "--lock-fd", str(fd)],
            cwd=REPO_ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), pass_fds=(fd,),
            capture_output=True, text=True, timeout=300)
    finally:
        os.close(fd)
    assert done.returncode == 0, done.stderr
    run = run.reload()
    assert run.status.state == "finished" and [h.epoch for h in run.history] == [1, 2]
    assert run.status.pid not in (None, os.getpid())
    assert (run.path / "config.json").stat().st_mtime_ns == written  # the worker did not rewrite it
    load_model(run.path)
    # Without the lock it refuses, saying so.
    refused = subprocess.run(
        [sys.executable, "-m", "blasto.train.worker", str(run.path), "--resume", "--lock-fd", "99"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "training lock handed to this process is not usable" in refused.stderr
