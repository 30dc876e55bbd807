"""``python -m blasto train``: train the U-Net on an experiment's annotations (same engine as
the Train page), with a text progress bar. Ctrl-C acts as the Stop button: the run ends within
one batch and keeps its best checkpoint; a second Ctrl-C aborts at once. The last line printed
names the run folder."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

HELP = "Train the U-Net on an experiment's annotated frames (Ctrl-C stops, keeping the best model)."


def add_arguments(parser):
    from blasto.train.engine import PRECISIONS

    parser.add_argument("--experiment", help="experiment to train on (under data/)")
    parser.add_argument("--preset", choices=("blasto", "seed"), default="blasto",
                        help="recipe: blasto's defaults, or the seed's (RMSprop, BCE)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--steps-per-epoch", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--optimizer", choices=("adam", "rmsprop"))
    parser.add_argument("--loss", choices=("bce_dice", "bce"))
    parser.add_argument("--lr-schedule", choices=("cosine", "constant"))
    parser.add_argument("--start-filters", type=int)
    parser.add_argument("--no-dropout", action="store_true", help="switch the dropout layers off")
    parser.add_argument("--precision", choices=tuple(PRECISIONS),
                        help="float32, mixed bfloat16, or auto: whichever this machine trains "
                             "faster, measured once (default: the preset's; blasto's is auto)")
    parser.add_argument("--early-stopping", choices=("loss", "val_loss"),
                        help="stop when this stops improving for --patience epochs")
    parser.add_argument("--patience", type=int)
    parser.add_argument("--stop-at-val-loss", type=float, metavar="X",
                        help="stop as soon as val_loss <= X (the seed's 0.08 rule)")
    parser.add_argument("--shear-deg", type=float, help="augmentation shear range in degrees")
    parser.add_argument("--no-augment", action="store_true", help="train without augmentation")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--run-dir", help="run folder to use (default: a new one under models/)")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="resume a stopped run (folder or run id) from its last weights")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    # Used by start_run: the training lock, inherited from the process that started this one.
    parser.add_argument("--lock-fd", type=int, help=argparse.SUPPRESS)


def config_from_args(args):
    """The TrainConfig the options ask for (preset first, then each option given)."""
    from blasto.errors import TrainingError
    from blasto.train.engine import PRECISIONS, TrainConfig

    if not args.experiment:
        raise TrainingError("Say which experiment to train on: --experiment NAME.")
    overrides = {
        "epochs": args.epochs, "steps_per_epoch": args.steps_per_epoch,
        "batch_size": args.batch_size, "learning_rate": args.learning_rate,
        "optimizer": args.optimizer, "loss": args.loss, "lr_schedule": args.lr_schedule,
        "start_filters": args.start_filters,
        "early_stopping": args.early_stopping, "patience": args.patience,
        "stop_at_val_loss": args.stop_at_val_loss, "seed": args.seed,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.no_dropout:
        overrides["dropout"] = False
    if args.precision:
        overrides["mixed_precision"] = PRECISIONS[args.precision]
    config = TrainConfig.from_preset(args.preset, experiment=args.experiment, **overrides)
    if args.shear_deg is not None:
        config.augment.shear_deg = args.shear_deg
    if args.no_augment:
        config.augment.enabled = False
    config.validate()
    return config


def run(args) -> int:
    from blasto.train import engine as training

    if args.resume:
        run_dir = training.resolve_run_dir(args.resume)
        # Possibly with more epochs than first planned (saved by train()).
        config, resume = training.resume_config(run_dir, epochs=args.epochs), True
    elif args.run_dir and not args.experiment:
        run_dir = training.resolve_run_dir(args.run_dir)  # prepared by start_run
        config, resume = training.load_config(run_dir), False
    else:
        config, run_dir, resume = config_from_args(args), args.run_dir, False

    stop = threading.Event()
    bar = ProgressBar(quiet=args.quiet)
    previous = signal.getsignal(signal.SIGINT)

    def on_interrupt(signum, frame):
        if stop.is_set():  # a second Ctrl-C: abort now
            raise KeyboardInterrupt
        stop.set()
        print("\nstopping after this batch (Ctrl-C again to abort)...", file=sys.stderr, flush=True)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, on_interrupt)
    try:
        run_dir = training.train(config, run_dir=run_dir, progress=bar.update, resume=resume,
                                 lock_fd=args.lock_fd, stop_event=stop)
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, previous)
        bar.close()
    summary = training.run_summary(training.read_run(run_dir, batches=False))
    if summary["best_val_loss"] is not None:
        print(f"{summary['status']}: best val_loss {summary['best_val_loss']:.4f} at epoch "
              f"{summary['best_epoch']} (val Dice {summary['val_dice']:.3f} at threshold "
              f"{config.threshold})")
    else:
        print(f"{summary['status']}: no epoch finished, no checkpoint")
    print(f"run folder: {run_dir}")
    return 0


def _clock(seconds) -> str:
    """'1:05' for 65 s, '1:01:05' past an hour, '?' when unknown.

    >>> _clock(65), _clock(3665), _clock(None)
    ('1:05', '1:01:05', '?')
    """
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressBar:
    """A one-line text bar redrawn in place on a terminal, plus one line per finished epoch
    (only the epoch lines when the output is a file)."""

    def __init__(self, *, quiet=False, width=24, stream=None):
        self.stream = stream or sys.stderr
        self.quiet, self.width = quiet, width
        self.tty = self.stream.isatty()
        self.epochs_reported = None

    def update(self, status: dict):
        if self.quiet:
            return
        last = status.get("last_epoch")
        if self.epochs_reported is None:  # a resumed run: its old epochs are not news
            self.epochs_reported = status.get("epochs_done", 0)
        if status.get("epochs_done", 0) > self.epochs_reported and last:
            self.epochs_reported = status["epochs_done"]
            self._write(self._epoch_line(last, status) + "\n", newline_first=True)
        if self.tty:
            self._write("\r" + self._bar_line(status).ljust(110)[:110])

    def _bar_line(self, status) -> str:
        step, steps = status.get("step", 0), max(status.get("steps_per_epoch") or 1, 1)
        filled = int(self.width * step / steps)
        line = f"epoch {status.get('epoch', 0)}/{status.get('epochs', 0)} "
        line += f"[{'#' * filled}{'.' * (self.width - filled)}] {step}/{steps}"
        if status.get("last_loss") is not None:
            line += f" loss {status['last_loss']:.4f}"
        return line + f" elapsed {_clock(status.get('elapsed_s'))} eta {_clock(status.get('eta_s'))}"

    @staticmethod
    def _epoch_line(entry, status) -> str:
        return (f"epoch {entry['epoch']}/{status.get('epochs')}: loss {entry['loss']:.4f} "
                f"val_loss {entry['val_loss']:.4f} val Dice {entry['val_dice']:.3f} "
                f"val IoU {entry['val_iou']:.3f}  (elapsed {_clock(entry.get('elapsed_s'))})")

    def _write(self, text, *, newline_first=False):
        if newline_first and self.tty:
            text = "\r" + " " * 110 + "\r" + text
        self.stream.write(text)
        self.stream.flush()

    def close(self):
        if self.tty and not self.quiet:
            self._write("\n")
