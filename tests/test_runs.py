"""Reading run folders without training: the shipped demo (an older format), torn and killed
runs, the one list of models, and what the Train page draws from them."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from blasto.errors import TrainingError
from blasto.model.files import ModelEntry, list_models
from blasto.train.config import TrainConfig
from blasto.train.display import loss_chart, runs_table, smoothed, status_line
from blasto.train.records import EpochRecord, RunStatus
from blasto.train.runs import Run, delete_run, list_runs, new_run, resolve_run

SHIPPED_DEMO = Path(__file__).resolve().parent.parent / "models" / "demo"


@pytest.fixture
def demo_model(roots):
    """A copy of the shipped models/demo (config.json, status.json, history.json, model.keras)."""
    folder = roots[1] / "demo"
    shutil.copytree(SHIPPED_DEMO, folder)
    return folder


def test_the_shipped_demo_folder_reads_as_a_finished_run(demo_model):
    run = resolve_run("demo")
    assert run == Run(demo_model) and Path(run) == demo_model
    config = run.config  # written before `init` existed: initializer + prior_output_bias
    assert config.init == "blasto" and config.start_filters == 8 and config.epochs == 120
    assert run.status.state == "finished" and run.status.label == "finished"
    assert len(run.history) == 120 and isinstance(run.history[0], EpochRecord)
    assert run.best.epoch == 119 == run.status.best_epoch
    assert run.best.val_loss == run.status.best_val_loss
    assert run.batches() == []  # it shipped without batches.csv
    assert run.model_file == demo_model / "model.keras" and not run.active
    summary = run.summary()
    assert summary.experiment == "demo" and summary.epochs_done == 120 and summary.has_model
    assert round(summary.val_dice, 3) == 0.989 and summary.precision == "float32"
    assert status_line(run).startswith("**demo** · finished · epoch 120/120 · step 50/50")
    assert "no last weights" in run.resume_refusal(epochs=200)  # shipped without them
    assert [r.name for r in list_runs()] == ["demo"]


def test_a_torn_status_and_history_read_as_unknown_not_as_an_error(roots):
    run = new_run(TrainConfig(experiment="tiny"))
    run.write_config(TrainConfig(experiment="tiny"))
    (run.path / "status.json").write_text('{"state": "runn')
    (run.path / "history.json").write_text('[{"epoch": 1, "loss": 0.5}, {"loss": 0.4}')
    (run.path / "batches.csv").write_text("epoch,step,loss\n1,1,0.9\n1,2,0.8\n1,3")
    run = run.reload()
    assert run.status == RunStatus() and run.status.label == "?"
    assert run.history == [] and run.best is None
    assert [(b.epoch, b.step, b.loss) for b in run.batches()] == [(1, 1, 0.9), (1, 2, 0.8)]
    (run.path / "history.json").write_text('[{"epoch": 1, "loss": 0.5, "new_key": 3}, {"loss": 0.4}]')
    assert [h.epoch for h in run.reload().history] == [1]  # the entry without an epoch is skipped
    assert run.reload().summary().epochs_done == 1


def test_a_live_state_without_the_lock_reads_as_failed(roots):
    config = TrainConfig(experiment="tiny")
    run = new_run(config)
    run.write_config(config)
    run.write_status(RunStatus.starting(config, run.name, pid=12345))
    (run.path / "train.log").write_text("Traceback ...")
    status = run.reload().status
    assert status.state == "failed" and "ended without saying why" in status.error
    assert str(run.path / "train.log") in status.error
    # Status files of other blasto versions: unknown keys ignored, missing ones defaulted.
    (run.path / "status.json").write_text(json.dumps({"state": "stopped", "future_key": 1}))
    assert run.reload().status == RunStatus(state="stopped")


def test_runs_are_listed_newest_first_and_deleted_only_when_they_are_runs(roots):
    older, newer = (new_run(TrainConfig(experiment=name)) for name in ("a", "b"))
    for run, started in ((older, "2026-01-01T10:00:00+00:00"), (newer, "2026-01-02T10:00:00+00:00")):
        run.write_config(TrainConfig(experiment=run.name.split("-")[-1]))
        run.write_status(RunStatus(state="stopped", started=started))
    (roots[1] / "not-a-run").mkdir()
    assert [r.name for r in list_runs()] == [newer.name, older.name]
    table = runs_table([r.summary() for r in list_runs()])
    assert table["run"].tolist() == [newer.name, older.name]
    assert table["status"].tolist() == ["stopped by hand"] * 2
    with pytest.raises(TrainingError, match="not a training run folder"):
        delete_run(roots[1] / "not-a-run")
    with pytest.raises(TrainingError, match="No run folder 'gone'"):
        resolve_run("gone")
    delete_run(older.name)
    assert [r.name for r in list_runs()] == [newer.name]


def test_list_models_holds_runs_with_a_model_and_the_demo_last(demo_model, roots):
    config = TrainConfig(experiment="tiny")
    run = new_run(config)
    run.write_config(config)
    run.write_history([EpochRecord(epoch=1, val_loss=0.3, val_dice=0.71),
                       EpochRecord(epoch=2, val_loss=0.2, val_dice=0.82)])
    (run.path / "best.keras").write_bytes(b"x" * 10)
    bare = roots[1] / "lab-model"
    bare.mkdir()
    (bare / "model.keras").write_bytes(b"y" * 20)
    os.utime(bare / "model.keras", (1, 1))  # older than the run's
    (roots[1] / "empty-run").mkdir()  # no model file: not listed
    models = list_models()
    assert [m.name for m in models] == [run.name, "lab-model", "demo"]
    first, lab, demo = models
    assert first == ModelEntry(name=run.name, path=run.path, model_file=run.path / "best.keras",
                               experiment="tiny", val_dice=0.82, date=first.date, size_bytes=10)
    assert (lab.experiment, lab.val_dice, lab.size_bytes) == (None, None, 20)
    assert demo.model_file == demo_model / "model.keras" and demo.experiment == "demo"
    assert demo.size_bytes == (demo_model / "model.keras").stat().st_size
    assert round(demo.val_dice, 3) == 0.989
    assert demo.describe().startswith("demo (demo, val Dice 0.989, ")


def test_smoothed_follows_a_step_without_starting_at_zero():
    assert smoothed([]).tolist() == []
    assert smoothed([2.0]).tolist() == [2.0]  # bias-corrected: not pulled towards 0
    values = [1.0] * 5 + [0.0] * 50
    out = smoothed(values, weight=0.9)
    np.testing.assert_allclose(out[:5], 1.0)
    assert np.all(np.diff(out[5:]) < 0) and out[-1] < 0.01
    # weight 0 is no smoothing at all
    np.testing.assert_allclose(smoothed([3.0, 1.0, 2.0], weight=0.0), [3.0, 1.0, 2.0])


def test_the_loss_chart_draws_batches_and_epochs(demo_model):
    run = Run(demo_model)
    (demo_model / "batches.csv").write_text("epoch,step,loss\n1,25,0.9\n1,50,0.8\n2,25,0.7\n")
    figure = loss_chart([run.reload()])
    names = [trace.name for trace in figure.data]
    assert names == ["batch loss", "loss (smoothed)", "loss (epoch)", "val_loss"]
    assert list(figure.data[0].x) == [0.5, 1.0, 1.5]  # batches on the epoch axis
    assert len(figure.data[3].x) == 120


def test_the_preview_overlays_validation_frames_with_the_runs_model(roots):
    from blasto.model.unet import build_unet
    from blasto.train.evaluate import preview
    from synthetic import tiny_experiment

    experiment = tiny_experiment()
    config = TrainConfig(experiment="tiny")
    run = new_run(config)
    run.write_config(config)
    with pytest.raises(TrainingError, match="no saved model yet"):
        preview(run, experiment)
    build_unet(input_size=32, start_filters=2, dropout=False).save(run.path / "best.keras")
    frames = preview(run.reload(), experiment, count=2)
    assert [f.caption for f in frames] == ["pool 4, frame 0", "pool 4, frame 4"]
    assert frames[0].image.shape == (32, 32, 3) and frames[0].image.dtype == np.uint8
