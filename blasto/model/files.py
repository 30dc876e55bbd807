"""Saved models: where they are, how they are named and loaded, and THE one list of them.

A model is a ``.keras`` file, usually inside a folder under ``models/``: a training run's folder
(``best.keras``) or a model folder such as the shipped ``models/demo`` (``model.keras``).
:func:`list_models` is what the Review page's picker, the home page and ``predict`` show.

Keras is imported inside :func:`load_model`, so ``import blasto.model.files`` stays cheap.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import zipfile
from pathlib import Path

from blasto.errors import TrainingError, first_line
from blasto.store.roots import models_root

#: Names a saved model may have inside a run folder or model folder, in order of preference.
MODEL_FILES = ("best.keras", "model.keras", "last.keras")


def model_in_folder(folder) -> Path | None:
    """The preferred saved model in ``folder`` (see :data:`MODEL_FILES`), or None."""
    for name in MODEL_FILES:
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    return None


def resolve_model(name_or_path) -> Path:
    """A model file or folder from a path, or a run id / model name under ``models/`` (``demo``)."""
    path = Path(name_or_path)
    if path.exists():
        return path
    candidate = models_root() / str(name_or_path)
    if len(path.parts) == 1 and candidate.exists():
        return candidate
    raise TrainingError(f"No model {str(name_or_path)!r}: no such model file or folder, "
                        f"nor a model of that name in {models_root()}.")


def model_file(path) -> Path:
    """The ``.keras`` file that ``path`` names: the file itself, or the best one in a folder."""
    path = Path(path)
    if path.is_dir():
        found = model_in_folder(path)
        if found is None:
            raise TrainingError(
                f"{path}: no saved model in this folder (looked for {', '.join(MODEL_FILES)})."
            )
        return found
    if not path.is_file():
        raise TrainingError(f"{path}: no such model file or folder.")
    if path.suffix != ".keras":
        raise TrainingError(f"{path}: not a Keras model file (expected a .keras file).")
    return path


def load_model(path):
    """Load a saved model for prediction (not compiled).

    ``path`` is a ``.keras`` file, or a run folder / model folder holding ``best.keras``
    (or ``model.keras``, or ``last.keras``).
    """
    import keras

    file = model_file(path)
    if not zipfile.is_zipfile(file):  # Keras would say "File not found" for a torn file
        raise TrainingError(f"{file}: cannot load the model (not a .keras zip archive: the "
                            "file is damaged, truncated or something else).")
    try:
        # safe_mode (Keras' default, said here on purpose): a model file cannot run code.
        model = keras.models.load_model(file, compile=False, safe_mode=True)
    except Exception as exc:  # a torn or foreign file: say which one
        if "Lambda" in str(exc) or "safe_mode" in str(exc):
            raise TrainingError(
                f"{file}: the model holds a Lambda layer (Python code), which blasto refuses "
                "to run (Keras' safe mode); save a model without Lambda layers.") from None
        raise TrainingError(f"{file}: cannot load the model ({first_line(exc)}).") from None
    check_segmentation_model(model, file)
    return model


def check_segmentation_model(model, file) -> None:
    """A TrainingError unless ``model`` maps gray images (N, H, W, 1) to one P(cell) channel
    (N, H, W, 1), as the U-Net does."""
    try:
        ins, outs = [tuple(t.shape) for t in model.inputs], [tuple(t.shape) for t in model.outputs]
    except (AttributeError, TypeError, ValueError):  # a bare layer or a subclassed model
        ins, outs = [], []
    good = (len(ins) == 1 and len(outs) == 1 and len(ins[0]) == 4 and len(outs[0]) == 4
            and ins[0][-1] in (1, None) and outs[0][-1] == 1)
    if not good:
        raise TrainingError(f"{file}: not a segmentation model blasto can use (it takes "
                            f"{ins or '?'} and gives {outs or '?'}; expected gray images "
                            "(N, H, W, 1) in and one P(cell) channel (N, H, W, 1) out).")


def model_id(path) -> str:
    """The cache key of a model: its folder's name, or file stem + a short hash for a bare file.

    A bare ``.keras`` file is keyed by its size and modification time too, so two different
    files called ``model.keras`` never share a cache.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "run-2026"
    >>> folder.mkdir(); _ = (folder / "best.keras").write_bytes(b"x")
    >>> model_id(folder)
    'run-2026'
    """
    path = Path(path)
    if path.is_dir():
        model_file(path)  # raises if there is no model in it
        return path.name
    file = model_file(path)
    stat = file.stat()
    digest = hashlib.sha1(f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:8]
    return f"{file.stem}-{digest}"


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One saved model under ``models/``.

    ``experiment`` and ``val_dice`` (validation Dice at the run's threshold, at its best epoch)
    come from the training run that made it, when the folder is one; ``date`` is when the
    model file was written.
    """

    name: str
    path: Path
    model_file: Path
    experiment: str | None
    val_dice: float | None
    date: _dt.datetime
    size_bytes: int

    def describe(self) -> str:
        """One line for pickers and lists.

        >>> ModelEntry("demo", Path("models/demo"), Path("models/demo/model.keras"), "demo", 0.9891,
        ...            _dt.datetime(2026, 11, 27, 12, 25), 2_280_048).describe()
        'demo (demo, val Dice 0.989, 2026-11-27 12:25, 2.3 MB)'
        """
        parts = [self.experiment] if self.experiment else []
        if self.val_dice is not None:
            parts.append(f"val Dice {self.val_dice:.3f}")
        parts += [self.date.strftime("%Y-%m-%d %H:%M"), f"{self.size_bytes / 1e6:.1f} MB"]
        return f"{self.name} ({', '.join(parts)})"


def list_models(*, root=None) -> list[ModelEntry]:
    """Every folder under ``models/`` (or ``root``) that holds a saved model, newest first, the
    shipped ``demo`` last."""
    from blasto.train.runs import CONFIG, Run  # runs know this module: import here, not at the top

    root = Path(root) if root else models_root()
    if not root.is_dir():
        return []
    entries = []
    for folder in sorted(root.iterdir()):
        file = model_in_folder(folder) if folder.is_dir() and not folder.name.startswith(".") else None
        if file is None:
            continue
        experiment, val_dice = trained_on(Run(folder)) if (folder / CONFIG).is_file() else (None, None)
        stat = file.stat()
        entries.append(ModelEntry(name=folder.name, path=folder, model_file=file, experiment=experiment,
                                  val_dice=val_dice, date=_dt.datetime.fromtimestamp(stat.st_mtime),
                                  size_bytes=stat.st_size))
    entries.sort(key=lambda entry: (entry.name == "demo", -entry.date.timestamp()))
    return entries


def trained_on(run) -> tuple[str | None, float | None]:
    """(experiment, validation Dice at the best epoch) of a training run's folder."""
    try:
        experiment = run.config.experiment
    except TrainingError:  # an unusable config.json: the model is still listed
        experiment = None
    best = run.best
    return experiment, best.val_dice if best else None


def default_model(experiment: str | None, *, models=None) -> ModelEntry | None:
    """The model to propose and review with by default: the best run trained on ``experiment``
    by validation Dice, else the shipped ``demo`` model, else the first model listed, else None.

    A run with no validation Dice yet (still at its first epoch, or a torn history) never beats
    one that has it. ``models`` is :func:`list_models`'s list (read here when not given).

    >>> day = _dt.datetime(2026, 12, 2)
    >>> def entry(name, experiment, dice):
    ...     return ModelEntry(name, Path(name), Path(name) / "best.keras", experiment, dice, day, 1)
    >>> models = [entry("toy", "plate1", 0.0), entry("good", "plate1", 0.93),
    ...           entry("other", "plate2", 0.99), entry("demo", "demo", 0.98)]
    >>> default_model("plate1", models=models).name
    'good'
    >>> default_model("plate9", models=models).name
    'demo'
    """
    models = list_models() if models is None else list(models)
    trained_here = [m for m in models if experiment is not None and m.experiment == experiment]
    if trained_here:
        return max(trained_here, key=lambda m: (m.val_dice is not None, m.val_dice or 0.0,
                                                m.date.timestamp()))
    demo = [m for m in models if m.name == "demo"]
    if demo:
        return demo[0]
    return models[0] if models else None
