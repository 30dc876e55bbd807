"""What a run folder's files hold, as typed records: :class:`RunStatus` (status.json),
:class:`EpochRecord` (an entry of history.json) and :class:`BatchLoss` (a line of batches.csv).

Each reader is tolerant: a file written by an older or newer blasto may lack keys (the
defaults fill in) or hold others (ignored), and a torn file reads as empty.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from pathlib import Path
from typing import NamedTuple

from blasto.store.manifest import known_fields
from blasto.train.config import TrainConfig, state_label

#: The first line of batches.csv.
BATCHES_HEADER = "epoch,step,loss"


def now() -> str:
    """The local time as ISO 8601 with the offset, to the second (status.json's clock)."""
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


@dataclasses.dataclass
class RunStatus:
    """A run's ``status.json``: where it is and how it is going (updated as it trains)."""

    state: str | None = None
    error: str | None = None
    run_id: str | None = None
    experiment: str | None = None
    epoch: int = 0
    epochs: int | None = None
    step: int = 0
    steps_per_epoch: int | None = None
    global_step: int = 0
    total_steps: int | None = None
    started: str | None = None
    updated: str | None = None
    elapsed_s: float | None = 0.0
    eta_s: float | None = None
    best_val_loss: float | None = None
    best_epoch: int | None = None
    last_loss: float | None = None
    pid: int | None = None
    precision: str | None = None
    precision_reason: str | None = None
    optimizer_state_restored: bool | None = None
    devices: str | None = None  # "one device (...)" or "MirroredStrategy over N devices (...)"

    @classmethod
    def starting(cls, config: TrainConfig, run_id: str, *, pid=None) -> "RunStatus":
        """The status of a run about to start."""
        stamp = now()
        return cls(state="starting", run_id=run_id, experiment=config.experiment,
                   epochs=config.epochs, steps_per_epoch=config.steps_per_epoch,
                   total_steps=config.total_steps, started=stamp, updated=stamp, pid=pid)

    @classmethod
    def from_dict(cls, values) -> "RunStatus":
        """Read a status.json's contents; missing keys take the defaults, unknown ones are
        ignored, and anything but an object (a torn file) reads as an unknown state.

        >>> RunStatus.from_dict({"state": "finished", "epoch": 3, "from_the_future": 1}).epoch
        3
        >>> RunStatus.from_dict(None).label
        '?'
        """
        return cls(**known_fields(cls, values, typed=True))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def label(self) -> str:
        """The state in words ("stopped by hand", ...)."""
        return state_label(self.state)


@dataclasses.dataclass(frozen=True)
class EpochRecord:
    """One entry of ``history.json``: the scores after an epoch (``partial`` when a stop
    request ended it early)."""

    epoch: int
    loss: float | None = None
    val_loss: float | None = None
    val_bce: float | None = None
    val_dice: float | None = None
    val_iou: float | None = None
    lr: float | None = None
    steps: int | None = None
    partial: bool = False
    elapsed_s: float | None = None

    @classmethod
    def from_dict(cls, values) -> "EpochRecord | None":
        """An entry of history.json (None for one without an epoch number)."""
        known = known_fields(cls, values, typed=True)  # a value of the wrong type is dropped
        return cls(**known) if "epoch" in known else None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class BatchLoss(NamedTuple):
    """One line of batches.csv."""

    epoch: int
    step: int
    loss: float

    def csv_line(self) -> str:
        """The line in batches.csv.

        >>> BatchLoss(2, 5, 0.123456789).csv_line()
        '2,5,0.123457'
        """
        return f"{self.epoch},{self.step},{self.loss:.6g}"


def read_batches(path) -> list[BatchLoss]:
    """The lines of a batches.csv; a torn or foreign line is skipped."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    rows = []
    for line in text.splitlines()[1:]:
        parts = line.split(",")
        if len(parts) != 3:
            continue
        try:
            rows.append(BatchLoss(int(parts[0]), int(parts[1]), float(parts[2])))
        except ValueError:
            continue  # the last line of a killed run may be cut short
    return rows


def best_record(history) -> EpochRecord | None:
    """The epoch with the lowest val_loss (the one best.keras holds), or None."""
    scored = [record for record in history if record.val_loss is not None]
    return min(scored, key=lambda record: record.val_loss) if scored else None


@dataclasses.dataclass(frozen=True)
class Progress:
    """What a training run reports after each batch and epoch (``train(progress=...)``):
    its folder, a copy of its status, and the epochs recorded so far."""

    run_dir: Path
    status: RunStatus
    history: tuple[EpochRecord, ...]

    @property
    def epochs_done(self) -> int:
        return len(self.history)

    @property
    def last_epoch(self) -> EpochRecord | None:
        return self.history[-1] if self.history else None
