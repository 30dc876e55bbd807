"""The run engine: run folders, loss falling, stop within one batch, early stopping, resume,
SIGKILL safety, one run at a time, refusals. Tiny models (4 filters) on 32x32 frames."""

import json
import os
import signal
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from blasto.train import engine as training
from blasto.errors import BlastoError, TrainingError
from blasto.model.unet import load_model
from blasto.train.engine import TrainConfig
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
    run_dir = training.train(tiny_config(epochs=4, dropout=False, learning_rate=3e-3), progress=seen.append)
    run = training.read_run(run_dir)
    history = run["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert history[-1]["loss"] < 0.8 * history[0]["loss"]
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert all(0.0 <= h["val_dice"] <= 1.0 and 0.0 <= h["val_iou"] <= 1.0 for h in history)
    status = run["status"]
    assert status["state"] == "finished" and status["epoch"] == 4 and status["step"] == 8
    assert status["best_val_loss"] == min(h["val_loss"] for h in history)
    assert [(b["epoch"], b["step"]) for b in run["batches"]] == [(e, s) for e in range(1, 5) for s in range(1, 9)]
    assert run["config"]["start_filters"] == 4 and run["config"]["augment"]["rotation_deg"] == 180
    assert load_model(run_dir).count_params() == load_model(run_dir / "best.keras").count_params()
    assert (run_dir / "last.weights.h5").is_file()
    assert run_dir.parent == roots[1] and run_dir.name.endswith("-tiny")
    assert seen and seen[-1]["state"] == "finished"
    [summary] = training.list_runs()
    assert summary["run_id"] == run_dir.name and summary["status"] == "finished"
    assert summary["best_val_loss"] == status["best_val_loss"] and summary["has_model"]


def test_stop_request_ends_fit_within_one_batch_then_resume_finishes(roots):
    tiny_experiment()
    config = tiny_config(epochs=3)

    def stop_at_step_11(status):
        if status.get("global_step") == 11 and not (run_dir_of(status) / "stop").exists():
            training.request_stop(run_dir_of(status))

    run_dir = training.train(config, progress=stop_at_step_11)
    run = training.read_run(run_dir)
    # Asked after batch 11, i.e. while batch 12 runs: training ends when batch 12 is done.
    assert len(run["batches"]) == 12
    assert run["status"]["state"] == "stopped"
    assert training.STATE_LABELS["stopped"] == "stopped by hand"
    # The partial epoch was still validated and checkpointed.
    assert [h["epoch"] for h in run["history"]] == [1, 2] and run["history"][-1]["partial"]
    assert run["history"][-1]["steps"] == 4
    load_model(run_dir)
    # Adam's moments were kept with the last weights, for the epoch the history ends at.
    optimizer = training.make_optimizer(config)
    optimizer.build(load_model(run_dir).trainable_variables)
    state = run_dir / training.OPTIMIZER_STATE
    assert not training._restore_optimizer_state(optimizer, state, epoch=1)
    assert training._restore_optimizer_state(optimizer, state, epoch=2)
    with np.load(state) as saved:
        assert int(saved["epoch"]) == 2 and int(optimizer.iterations.numpy()) == 12
        assert np.array_equal(optimizer.variables[-1].numpy(), saved[f"v{len(optimizer.variables) - 1}"])
        assert np.abs(optimizer.variables[-1].numpy()).max() > 0

    training.train(config, run_dir=run_dir, resume=True)
    run = training.read_run(run_dir)
    assert run["status"]["state"] == "finished" and run["status"]["optimizer_state_restored"]
    assert [h["epoch"] for h in run["history"]] == [1, 2, 3]
    assert not (run_dir / "stop").exists()
    assert len(run["batches"]) == 12 + 8
    with pytest.raises(TrainingError, match="done all its 3 epochs"):
        training.train(config, run_dir=run_dir, resume=True)
    # What the Resume button shows: refused as planned, allowed with more epochs.
    assert "done all its 3 epochs" in training.resume_refusal(run_dir)
    assert training.resume_refusal(run_dir, epochs=4) is None
    with pytest.raises(TrainingError, match="done all its 3 epochs"):
        training.resume_run(run_dir)


def run_dir_of(status):
    return training.Path(status["run_dir"])


def test_stop_at_val_loss_ends_early(roots):
    tiny_experiment()
    run_dir = training.train(tiny_config(epochs=5, steps_per_epoch=4, stop_at_val_loss=50.0))
    run = training.read_run(run_dir)
    assert run["status"]["state"] == "early_stopped" and len(run["history"]) == 1
    assert training.STATE_LABELS["early_stopped"] == "early-stopped"


@pytest.mark.parametrize("monitor", ["loss", "val_loss"])
def test_early_stopping_waits_patience_epochs_without_improvement(tmp_path, monitor):
    config = tiny_config(early_stopping=monitor, patience=2)
    recorder = training._recorder_class()(
        run_dir=tmp_path, config=config, status={}, history=[], validation_data=None, twin=None,
        progress=None, stop_event=None, initial_step=0)
    recorder.set_model(SimpleNamespace(stop_training=False))
    for value, stops in [(1.0, False), (0.9, False), (0.95, False), (0.9, True)]:
        recorder._check_early_stopping({"loss": 1.0, "val_loss": 1.0, monitor: value})
        assert recorder.model.stop_training is stops
    assert recorder.reason == "early_stopped"
    recorder.close()


def test_failure_is_recorded_with_the_error(roots, monkeypatch):
    tiny_experiment()

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(training, "make_optimizer", broken)
    with pytest.raises(RuntimeError):
        training.train(tiny_config())
    [summary] = training.list_runs()
    assert summary["state"] == "failed" and "disk on fire" in summary["error"]
    assert training.active_run() is None  # the lock went with the failure


def test_refusals(roots):
    tiny_experiment(empty_masks=True)
    with pytest.raises(TrainingError, match="every mask"):
        training.start_run(tiny_config())
    assert training.list_runs() == [] and list(roots[1].glob("2*")) == []  # no folder left behind
    with pytest.raises(BlastoError, match="No experiment called 'other'"):
        training.start_run(tiny_config(experiment="other"))
    with pytest.raises(TrainingError, match="epochs must be at least 1"):
        tiny_config(epochs=0)
    with pytest.raises(TrainingError, match="optimizer='sgd'"):
        tiny_config(optimizer="sgd")
    with pytest.raises(TrainingError, match="No training run is going"):
        training.request_stop()


def test_a_second_start_is_refused_naming_the_running_run(roots):
    tiny_experiment()
    holder = training._acquire_lock()  # as a training process holds it
    training._announce(roots[1] / "20261127-113000-tiny", os.getpid())
    try:
        assert training.active_run().name == "20261127-113000-tiny"
        with pytest.raises(TrainingError, match="already going on this machine: 20261127-113000-tiny"):
            training.start_run(tiny_config())
        with pytest.raises(TrainingError, match="already going"):
            training.train(tiny_config())
    finally:
        os.close(holder)
    assert training.active_run() is None


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
            results.append(training.start_run(config))
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
    run_dir = runs[0]
    assert run_dir.name in str(refusals[0])
    assert len(training.list_runs()) == 1
    assert training.active_run().resolve() == run_dir.resolve()
    with pytest.raises(TrainingError, match="already going"):
        training.start_run(config)  # a later Start (another tab) sees the running one
    wait_for(lambda: len(training.read_run(run_dir)["history"]) >= 1, what="an epoch")
    with pytest.raises(TrainingError, match="still training"):
        training.delete_run(run_dir)

    assert main(["stop", "--wait", "--timeout", "60"]) == 0
    run = training.read_run(run_dir)
    assert run["status"]["state"] == "stopped", (run_dir / "train.log").read_text()
    assert len(run["history"]) < 1000
    assert training.active_run() is None
    load_model(run_dir)
    training.delete_run(run_dir)
    assert not run_dir.exists()


def test_sigkill_mid_run_leaves_a_loadable_checkpoint_and_parseable_history(roots):
    tiny_experiment()
    run_dir = training.start_run(tiny_config(epochs=1000, steps_per_epoch=5))  # runs until killed

    def past_first_epoch():
        status = json.loads((run_dir / "status.json").read_text())
        return status if status["epoch"] >= 2 and status["state"] == "running" else None

    # Tiny epochs last milliseconds, so "mid-epoch" cannot be aimed at: kill it wherever it is
    # after the first checkpoint (training, validating or writing a file).
    status = wait_for(past_first_epoch, what="the second epoch")
    os.kill(status["pid"], signal.SIGKILL)
    wait_for(lambda: training.active_run() is None, timeout=10, what="the lock to go")
    run = training.read_run(run_dir)
    assert run["status"]["state"] == "failed" and "ended without saying why" in run["status"]["error"]
    assert len(run["history"]) >= 1 and json.loads((run_dir / "history.json").read_text())
    assert all(set(b) == {"epoch", "step", "loss"} for b in run["batches"])
    load_model(run_dir)
    # A kill can land inside an atomic write: its temporary file stays behind, hidden, and
    # every file under its real name is whole.
    assert all(p.name.startswith(".") for p in run_dir.glob("*.tmp"))
    for name in ("config.json", "status.json", "history.json"):
        json.loads((run_dir / name).read_text())
    # The killed run resumes from its last finished epoch.
    training.train(training.load_config(run_dir), run_dir=run_dir, resume=True,
                   progress=lambda s: s["global_step"] >= 5 * len(run["history"]) + 2
                   and training.request_stop(run_dir))
    assert training.read_run(run_dir)["status"]["state"] == "stopped"
