"""The command-line twins: train (progress, Ctrl-C = Stop, last line names the run folder),
runs, stop, evaluate."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


from blasto.cli.main import build_parser, main
from blasto.cli.train import config_from_args
from blasto.model.files import load_model
from blasto.train.config import TrainConfig
from blasto.train.records import read_batches
from blasto.train.runs import Run
from synthetic import tiny_experiment

REPO = Path(__file__).resolve().parent.parent
TINY = ["--experiment", "tiny", "--steps-per-epoch", "4", "--batch-size", "4", "--start-filters", "4",
        "--learning-rate", "0.01"]


def test_train_runs_evaluate_and_resume_from_the_command_line(roots, capsys):
    tiny_experiment()
    assert main(["train", *TINY, "--epochs", "2", "--no-dropout"]) == 0
    out, err = capsys.readouterr()
    last = out.strip().splitlines()[-1]
    assert last.startswith("run folder: ")
    run_dir = Path(last.removeprefix("run folder: "))
    assert run_dir.parent == roots[1]
    assert "epoch 2/2: loss" in err and "val Dice" in err  # one progress line per epoch
    run = Run(run_dir)
    assert run.status.state == "finished" and len(run.history) == 2
    assert run.config.dropout is False and run.config.steps_per_epoch == 4

    assert main(["runs"]) == 0
    listing = capsys.readouterr().out
    assert run_dir.name in listing and "finished" in listing and "no dropout" in listing
    assert main(["runs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["run_id"] == run_dir.name

    assert main(["evaluate", "--experiment", "tiny", "--model", run_dir.name, "--json",
                 "--threshold", "0.5"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"dice_mean", "iou_mean", "frames"} <= set(result) and result["threshold"] == 0.5
    assert len(result["frames"]) == 3 and result["frames"][0]["source"] == "pool 4, frame 0"
    assert 0.0 <= result["iou_mean"] <= result["dice_mean"] <= 1.0
    assert main(["evaluate", "--experiment", "tiny", "--model", str(run_dir / "best.keras")]) == 0
    table = capsys.readouterr().out
    assert "pool 4, frame 4" in table and table.strip().splitlines()[-1].startswith("mean")

    assert main(["train", "--resume", run_dir.name, "--epochs", "3", "--quiet"]) == 0
    assert capsys.readouterr().out.strip().endswith(f"run folder: {run_dir}")
    assert [h.epoch for h in Run(run_dir).history] == [1, 2, 3]


def test_refusals_are_one_plain_line_and_status_2(roots, capsys):
    tiny_experiment()
    cases = [
        (["train", "--experiment", "nope"], "No experiment called 'nope'"),
        (["train"], "--experiment NAME"),
        (["train", *TINY, "--epochs", "0"], "epochs must be at least 1"),
        (["stop"], "nothing to stop"),
        (["evaluate", "--experiment", "tiny", "--model", "missing"], "No model 'missing'"),
        (["train", "--resume", "missing"], "No run folder 'missing'"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_options_and_presets_make_the_config():
    parser = build_parser()
    args = parser.parse_args(["train", "--experiment", "demo", "--preset", "seed", "--epochs", "7",
                              "--early-stopping", "val_loss", "--patience", "3",
                              "--stop-at-val-loss", "0.08", "--shear-deg", "11.46",
                              "--precision", "bfloat16"])
    config = config_from_args(args)
    assert (config.optimizer, config.loss, config.learning_rate) == ("rmsprop", "bce", 1e-3)
    assert (config.epochs, config.early_stopping, config.patience) == (7, "val_loss", 3)
    assert config.stop_at_val_loss == 0.08 and config.augment.shear_deg == 11.46
    assert config.mixed_precision is True
    default = config_from_args(parser.parse_args(["train", "--experiment", "demo"]))
    assert default == TrainConfig(experiment="demo")
    assert default.mixed_precision is None  # auto: measured on this machine
    assert config_from_args(parser.parse_args(["train", "--experiment", "demo", "--precision",
                                               "float32"])).mixed_precision is False
    bare = config_from_args(parser.parse_args(["train", "--experiment", "demo", "--no-augment"]))
    assert bare.augment.enabled is False and bare.augment.rotation_deg == 180


def test_ctrl_c_stops_like_the_stop_button_and_keeps_the_best_checkpoint(roots):
    tiny_experiment()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "blasto", "train", *TINY, "--epochs", "1000", "--quiet"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            runs = list(roots[1].glob("2*"))
            if runs and len(read_batches(runs[0] / "batches.csv")) >= 6:  # into the second epoch
                break
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "stopping after this batch" in err
    last = out.strip().splitlines()[-1]
    run_dir = Path(last.removeprefix("run folder: "))
    run = Run(run_dir)
    assert run.status.state == "stopped" and len(run.history) < 1000
    assert out.strip().splitlines()[-2].startswith("stopped by hand: best val_loss")
    load_model(run_dir)
