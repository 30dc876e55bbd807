"""``python -m blasto train``: train the U-Net on an experiment's annotations in this process
(the same training as the Train page's), with a text progress bar. Ctrl-C acts as the Stop button: the run ends within
one batch and keeps its best checkpoint; a second Ctrl-C aborts at once. The last line printed
names the run folder."""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading

from blasto.train.display import clock

HELP = "Train the U-Net on an experiment's annotated frames (Ctrl-C stops, keeping the best model)."


def add_arguments(parser):
    from blasto.train.config import PRECISIONS

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
    parser.add_argument("--from-model", metavar="M",
                        help="fine-tune from this saved model's weights, with its architecture (the "
                             "Draw step's 'Retrain from corrections'); without --epochs, "
                             "--steps-per-epoch or --learning-rate: one short retraining round")
    parser.add_argument("--run-dir", help="run folder to use (default: a new one under models/)")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="resume a stopped run (folder or run id) from its last weights")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def config_from_args(args):
    """The TrainConfig the options ask for (preset first, then each option given)."""
    from blasto.errors import TrainingError
    from blasto.train.config import PRECISIONS, TrainConfig

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
    augment = {"shear_deg": args.shear_deg} if args.shear_deg is not None else {}
    if args.no_augment:
        augment["enabled"] = False
    if augment:
        base = TrainConfig.from_preset(args.preset, experiment=args.experiment).augment
        overrides["augment"] = dataclasses.replace(base, **augment)
    if getattr(args, "from_model", None):
        import copy

        from blasto.annotate.retrain import retrain_config
        from blasto.train.config import PRESETS

        preset = {**copy.deepcopy(PRESETS[args.preset]), "preset": args.preset}
        return retrain_config(args.experiment, model=args.from_model, **{**preset, **overrides})
    return TrainConfig.from_preset(args.preset, experiment=args.experiment, **overrides)


def run(args) -> int:
    from blasto.train.runs import resolve_run
    from blasto.train.worker import train

    if args.resume:
        run_dir = resolve_run(args.resume)
        # Possibly with more epochs than first planned (train() saves them).
        config, resume = run_dir.resume_config(epochs=args.epochs), True
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
        done = train(config, run_dir=run_dir, progress=bar.update, resume=resume, stop_event=stop)
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, previous)
        bar.close()
    best = done.best
    if best is not None:
        print(f"{done.status.label}: best val_loss {best.val_loss:.4f} at epoch {best.epoch} "
              f"(val Dice {best.val_dice:.3f} at threshold {config.threshold})")
    else:
        print(f"{done.status.label}: no epoch finished, no checkpoint")
    print(f"run folder: {done.path}")
    return 0


class ProgressBar:
    """A one-line text bar redrawn in place on a terminal, plus one line per finished epoch
    (only the epoch lines when the output is a file)."""

    def __init__(self, *, quiet=False, width=24, stream=None):
        self.stream = stream or sys.stderr
        self.quiet, self.width = quiet, width
        self.tty = self.stream.isatty()
        self.epochs_reported = None

    def update(self, progress):
        """Show a :class:`blasto.train.records.Progress`."""
        if self.quiet:
            return
        if self.epochs_reported is None:  # a resumed run: its old epochs are not news
            self.epochs_reported = progress.epochs_done
        if progress.epochs_done > self.epochs_reported:
            self.epochs_reported = progress.epochs_done
            self._write(self._epoch_line(progress.last_epoch, progress.status) + "\n", newline_first=True)
        if self.tty:
            self._write("\r" + self._bar_line(progress.status).ljust(110)[:110])

    def _bar_line(self, status) -> str:
        step, steps = status.step, max(status.steps_per_epoch or 1, 1)
        filled = int(self.width * step / steps)
        line = f"epoch {status.epoch}/{status.epochs or 0} "
        line += f"[{'#' * filled}{'.' * (self.width - filled)}] {step}/{steps}"
        if status.last_loss is not None:
            line += f" loss {status.last_loss:.4f}"
        return line + f" elapsed {clock(status.elapsed_s)} eta {clock(status.eta_s)}"

    @staticmethod
    def _epoch_line(record, status) -> str:
        return (f"epoch {record.epoch}/{status.epochs}: loss {record.loss:.4f} "
                f"val_loss {record.val_loss:.4f} val Dice {record.val_dice:.3f} "
                f"val IoU {record.val_iou:.3f}  (elapsed {clock(record.elapsed_s)})")

    def _write(self, text, *, newline_first=False):
        if newline_first and self.tty:
            text = "\r" + " " * 110 + "\r" + text
        self.stream.write(text)
        self.stream.flush()

    def close(self):
        if self.tty and not self.quiet:
            self._write("\n")
