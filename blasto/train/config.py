"""What a training run is asked to do: :class:`TrainConfig`, the named recipes, the precision
choices and the words for each run state.

A :class:`TrainConfig` is checked once, when it is made (``__post_init__``), and cannot be
changed afterwards (it is frozen): to change a setting, make a new one with
``dataclasses.replace``, which checks it again. So a learning rate typed on the Train page is
checked exactly once on its way to the optimizer.
"""

from __future__ import annotations

import copy
import dataclasses

from blasto.errors import TrainingError
from blasto.masks import THRESHOLD, check_threshold
from blasto.train.augment import AugmentConfig, dataclass_from_dict

OPTIMIZERS = ("adam", "rmsprop")
LOSSES = ("bce_dice", "bce")
SCHEDULES = ("cosine", "constant")
INITS = ("blasto", "keras")
EARLY_STOPPING = (None, "loss", "val_loss")

STATES = ("starting", "running", "stopped", "early_stopped", "finished", "failed")
#: States of a run whose process is (or should be) alive.
LIVE_STATES = ("starting", "running")
#: What to call each state on the page and in the command line.
STATE_LABELS = {
    "starting": "starting",
    "running": "running",
    "stopped": "stopped by hand",
    "early_stopped": "early-stopped",
    "finished": "finished",
    "failed": "failed",
}

#: The precision choices (page and CLI) -> TrainConfig.mixed_precision.
PRECISIONS = {"auto": None, "float32": False, "bfloat16": True}

#: Settings of config.json files written by older versions, and what became of them.
_RETIRED_SETTINGS = ("initializer", "prior_output_bias")


def state_label(state: str | None) -> str:
    """A run state in words.

    >>> state_label("stopped"), state_label(None)
    ('stopped by hand', '?')
    """
    return STATE_LABELS.get(state, state or "?")


def precision_label(mixed_precision: bool | None) -> str:
    """The precision setting in words.

    >>> precision_label(None), precision_label(True), precision_label(False)
    ('auto', 'mixed bfloat16', 'float32')
    """
    return {None: "auto", True: "mixed bfloat16", False: "float32"}[mixed_precision]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs; saved as the run's ``config.json``.

    The defaults are blasto's recipe (Adam with cosine decay, BCE + Dice loss); they reach a
    validation Dice at threshold 0.8 of at least 0.95 on the demo in 600 steps at batch 1
    (``bench/bench_train.py --accuracy``). ``TrainConfig.from_preset("seed", ...)`` is the lab's
    original recipe: RMSprop at its default rate, binary cross-entropy, constant rate.

    >>> TrainConfig(experiment="demo", epochs=0)
    Traceback (most recent call last):
    ...
    blasto.errors.TrainingError: Training setting epochs must be at least 1; got 0.
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
    # Start from the weights of this saved model (a .keras file or a run/model folder) instead
    # of fresh ones: fine-tuning, e.g. "retrain from corrections" (blasto.annotate.retrain). Its
    # architecture must be this run's (same start filters); None: fresh starting weights.
    initial_model: str | None = None
    threshold: float = THRESHOLD  # for the validation Dice and IoU
    seed: int = 0
    preset: str = "blasto"
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)

    def __post_init__(self):
        # Frozen: the two normalisations go through object.__setattr__, before the check.
        if isinstance(self.augment, dict):
            object.__setattr__(self, "augment", AugmentConfig.from_dict(self.augment))
        if self.early_stopping in ("", "none", "off"):
            object.__setattr__(self, "early_stopping", None)
        self._check()

    def _check(self) -> None:
        """Raise :class:`TrainingError` naming the first setting that makes no sense (the
        augmentation settings checked themselves when they were made)."""
        for name in ("epochs", "steps_per_epoch", "batch_size", "start_filters", "patience"):
            if int(getattr(self, name)) < 1:
                raise TrainingError(f"Training setting {name} must be at least 1; got {getattr(self, name)}.")
        if not self.experiment:
            raise TrainingError("Pick the experiment to train on.")
        if not 0 < float(self.learning_rate) < 1:
            raise TrainingError(f"Learning rate must be between 0 and 1; got {self.learning_rate}.")
        for name, allowed in (("optimizer", OPTIMIZERS), ("loss", LOSSES), ("init", INITS),
                              ("lr_schedule", SCHEDULES), ("early_stopping", EARLY_STOPPING)):
            if getattr(self, name) not in allowed:
                raise TrainingError(f"Training setting {name}={getattr(self, name)!r}: use one of "
                                    f"{', '.join(str(a) for a in allowed)}.")
        if self.mixed_precision not in (None, True, False):
            raise TrainingError(f"Training setting mixed_precision={self.mixed_precision!r}: use "
                                "true (bfloat16), false (float32) or null (auto).")
        check_threshold(self.threshold)
        if self.initial_model is not None and not (isinstance(self.initial_model, str)
                                                   and self.initial_model.strip()):
            raise TrainingError(f"Training setting initial_model={self.initial_model!r}: give the "
                                "path of a saved model, or nothing for fresh starting weights.")
        if self.stop_at_val_loss is not None and self.stop_at_val_loss <= 0:
            raise TrainingError("Stop-at val_loss must be above 0.")
        if self.warmup_steps < 0 or self.warmup_steps >= self.total_steps:
            raise TrainingError("Warm-up steps must be fewer than epochs x steps per epoch.")
        if not isinstance(self.augment, AugmentConfig):
            raise TrainingError(f"Augmentation settings must be an AugmentConfig; got {self.augment!r}.")

    @property
    def total_steps(self) -> int:
        return int(self.epochs) * int(self.steps_per_epoch)

    @property
    def precision(self) -> str:
        """The precision setting in words ("auto", "float32", "mixed bfloat16")."""
        return precision_label(self.mixed_precision)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """Build from a dict (a run's config.json); unknown keys are refused.

        The starting-weight settings of older config.json files (``initializer``,
        ``prior_output_bias``, as in the shipped ``models/demo``) are read as ``init``.

        >>> TrainConfig.from_dict({"experiment": "demo", "initializer": "he_normal",
        ...                        "prior_output_bias": True}).init
        'blasto'
        """
        values = dict(values)
        retired = {name: values.pop(name) for name in _RETIRED_SETTINGS if name in values}
        if "initializer" in retired and "init" not in values:
            values["init"] = "keras" if retired["initializer"] == "glorot_uniform" else "blasto"
        return dataclass_from_dict(cls, values, what="training")

    @classmethod
    def from_preset(cls, name: str, *, experiment: str, **overrides) -> "TrainConfig":
        """A named recipe ("blasto" or "seed") with ``overrides`` on top.

        >>> TrainConfig.from_preset("seed", experiment="demo").optimizer
        'rmsprop'
        """
        if name not in PRESETS:
            raise TrainingError(f"Unknown preset {name!r}: use one of {', '.join(PRESETS)}.")
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
