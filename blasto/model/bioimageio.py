"""A trained model as a BioImage Model Zoo package (bioimageio.spec 0.5), so Fiji (deepImageJ),
napari, ilastik and bioimageio.core can open it.

The package holds the float32 ``.keras`` file as ``keras_v3`` weights (TensorFlow backend),
one input (batch, y, x, channel: pool frames' gray levels 0-255 as float32, scaled to [0, 1] by the package's own
preprocessing) and one output (P(cell) in [0, 1], same axes), a test input made from a frame of
the experiment the model was trained on (and the model's own output for it), a cover image and
a README saying how it was trained and its validation Dice.

bioimageio.spec and bioimageio.core are an optional extra (``requirements-scale.txt``): without
them :func:`export_bioimageio` says so. Validation needs no network when
``BIOIMAGEIO_PERFORM_IO_CHECKS=false``.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from blasto.errors import BlastoError
from blasto.masks import THRESHOLD

LICENSE = "MIT"
CITE = ("Ronneberger, Fischer & Brox: U-Net: Convolutional networks for biomedical image "
        "segmentation. MICCAI 2015.", "10.1007/978-3-319-24574-4_28")


@dataclass(frozen=True)
class ExportedModel:
    """What :func:`export_bioimageio` wrote: the zip, and the model it came from."""

    path: Path
    model: str
    experiment: str | None
    val_dice: float | None
    input_size: int


def _require_bioimageio():
    import importlib.util

    if any(importlib.util.find_spec(name) is None for name in ("bioimageio", "yaml")):
        raise BlastoError(
            "Exporting to the BioImage Model Zoo needs the optional packages of "
            "requirements-scale.txt (bioimageio.core): pip install -r requirements-scale.txt"
        )


def _test_frame(experiment_name: str | None, size: int) -> np.ndarray:
    """A uint8 (size, size) frame: the first pool's middle frame of the training experiment, or
    a synthetic disc when that experiment is not on this machine."""
    from PIL import Image

    if experiment_name:
        try:
            from blasto.store.experiment import open_experiment

            experiment = open_experiment(experiment_name)
            movie = experiment.read_pool_movie(experiment.pool_numbers[0])
            frame = np.asarray(movie[len(movie) // 2], np.uint8)
            if frame.shape != (size, size):
                frame = np.asarray(Image.fromarray(frame).resize((size, size), Image.Resampling.BILINEAR))
            return frame
        except BlastoError:
            pass
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 4) ** 2
    return np.where(disc, 70, 160).astype(np.uint8)


def _cover(frame: np.ndarray, probabilities: np.ndarray, path: Path) -> None:
    """Input | output side by side (2:1, as the zoo asks), the mask at the lab threshold tinted."""
    from PIL import Image

    rgb = np.repeat(frame[..., None], 3, axis=-1).astype(np.float32)
    cell = probabilities > THRESHOLD
    tinted = rgb.copy()
    tinted[cell] = 0.5 * tinted[cell] + 0.5 * np.array([255, 210, 0], np.float32)
    Image.fromarray(np.concatenate([rgb, tinted], axis=1).astype(np.uint8)).save(path)


def _readme(*, model: str, experiment: str | None, val_dice: float | None, size: int,
            trained: str | None) -> str:
    dice = f"{val_dice:.3f}" if val_dice is not None else "not recorded"
    return f"""# blasto U-Net: blastocyst segmentation ({model})

Segments blastocysts in time-lapse pool frames ({size} x {size} pixels, one gray channel).
Output: P(cell) per pixel; the lab's threshold is {THRESHOLD} (pixels above it are cell), then
holes are filled and small objects dropped (blasto's post-processing, not part of this package).

## Training
- Trained with blasto (a Keras U-Net: 4 down blocks, filters from the run's start filters,
  sigmoid output) on the hand-annotated frames of experiment **{experiment or 'unknown'}**,
  split by pool (never by frame) into training and validation pools.
- Paired augmentation of image and mask (rotation, shift, shear, zoom, horizontal flip).
- Validation Dice at the best epoch: **{dice}**.
- {trained or 'Training settings not recorded.'}

## Input and preprocessing
Gray levels 0-255 as float32 (batch, y, x, channel), scaled to [0, 1] (x / 255) by the
package's preprocessing.

## Limits
Trained on one lab's microscope and plates: check it on your own frames first. Bubbles that pop
out of a cell can be segmented as cell.
"""


def export_bioimageio(model_path, out, *, experiment: str | None = None) -> ExportedModel:
    """Write the model at ``model_path`` (a name, run folder or ``.keras`` file) as a BioImage
    Model Zoo zip at ``out``; returns what was written.

    ``experiment``: where the test input comes from (default: the run's own experiment).
    The zip is written whole or not at all (a temporary file, then replaced).
    """
    _require_bioimageio()
    import tifffile
    import yaml

    from blasto.model.files import load_model, model_file, model_id, resolve_model, trained_on
    from blasto.train.runs import CONFIG, Run

    out = Path(out)
    if out.suffix != ".zip":
        raise BlastoError(f"{out}: a BioImage Model Zoo package is a .zip file: name it FILE.zip.")
    source = resolve_model(model_path)
    keras_file = model_file(source)
    name = model_id(source)
    folder = keras_file.parent
    run_experiment, val_dice, trained = None, None, None
    if (folder / CONFIG).is_file():  # a training run: what it was trained on, and how
        run = Run(folder)
        run_experiment, val_dice = trained_on(run)
        config = run.config
        trained = (f"{config.epochs} epochs of {config.steps_per_epoch} steps at batch "
                   f"{config.batch_size}, start filters {config.start_filters}.")
    model = load_model(keras_file)
    shape = model.inputs[0].shape
    size = int(shape[1]) if shape[1] is not None else 256

    frame = _test_frame(experiment or run_experiment, size)
    test_input = frame[None, :, :, None].astype(np.float32)
    test_output = np.asarray(model(test_input / 255.0, training=False), np.float32)

    with tempfile.TemporaryDirectory(prefix="blasto-bioimageio-") as tmp:
        tmp = Path(tmp)
        shutil.copyfile(keras_file, tmp / "weights.keras")
        np.save(tmp / "test_input.npy", test_input)
        np.save(tmp / "test_output.npy", test_output)
        # Sample tensors are what the zoo's website shows: the same frame and output as images.
        tifffile.imwrite(tmp / "sample_input.tif", frame)
        tifffile.imwrite(tmp / "sample_output.tif", test_output[0, :, :, 0])
        _cover(frame, test_output[0, :, :, 0], tmp / "cover.png")
        (tmp / "README.md").write_text(_readme(model=name, experiment=run_experiment,
                                               val_dice=val_dice, size=size, trained=trained))
        rdf = _rdf(name=name, size=size, experiment=run_experiment, val_dice=val_dice)
        (tmp / "rdf.yaml").write_text(yaml.safe_dump(rdf, sort_keys=False))
        _package(tmp / "rdf.yaml", out)
    return ExportedModel(out, name, run_experiment, val_dice, size)


def _rdf(*, name: str, size: int, experiment: str | None, val_dice: float | None) -> dict:
    import keras
    import tensorflow as tf

    def space(axis_id):
        return {"type": "space", "id": axis_id, "size": size}

    axes = [{"type": "batch"}, space("y"), space("x"),
            {"type": "channel", "channel_names": ["gray"]}]
    out_axes = [{"type": "batch"}, space("y"), space("x"),
                {"type": "channel", "channel_names": ["p_cell"]}]
    dice = f", validation Dice {val_dice:.3f}" if val_dice is not None else ""
    return {
        "format_version": "0.5.12",
        "type": "model",
        "name": f"blasto blastocyst U-Net {name}",
        "description": (f"Segments blastocysts in time-lapse pool frames: P(cell) per pixel "
                        f"(trained with blasto on {experiment or 'an unrecorded experiment'}{dice})."),
        "authors": [{"name": "blasto"}],
        "cite": [{"text": CITE[0], "doi": CITE[1]}],
        "license": LICENSE,
        "documentation": {"source": "README.md"},
        "covers": [{"source": "cover.png"}],
        "tags": ["blastocyst", "embryo", "unet", "semantic-segmentation", "2d", "brightfield",
                 "time-lapse", "keras"],
        "timestamp": _dt.datetime.now().replace(microsecond=0).isoformat(),
        "inputs": [{
            "id": "frame",
            "description": "pool frame, one gray channel, gray levels 0-255 (uint8 values as float32)",
            "axes": axes,
            "test_tensor": {"source": "test_input.npy"},
            "sample_tensor": {"source": "sample_input.tif"},
            # float32 in, not uint8: the spec casts the preprocessed tensor to this data type
            # again at the end of preprocessing, which would turn x / 255 back into 0s and 1s.
            "data": {"type": "float32", "range": [0.0, 255.0]},
            "preprocessing": [{"id": "scale_linear", "kwargs": {"gain": 1.0 / 255.0, "offset": 0.0}}],
        }],
        "outputs": [{
            "id": "p_cell",
            "description": f"P(cell) in [0, 1]; cell where P > {THRESHOLD}",
            "axes": out_axes,
            "test_tensor": {"source": "test_output.npy"},
            "sample_tensor": {"source": "sample_output.tif"},
            "data": {"type": "float32", "range": [0.0, 1.0]},
        }],
        "weights": {"keras_v3": {
            "source": "weights.keras",
            "keras_version": keras.__version__,
            "backend": ["tensorflow", tf.__version__],
        }},
        "config": {"blasto": {"model": name, "experiment": experiment, "val_dice": val_dice,
                              "threshold": THRESHOLD}},
    }


def _package(rdf_path: Path, out: Path) -> None:
    """Validate the description (offline) and write the zip atomically."""
    from bioimageio.spec import ValidationContext, load_description, save_bioimageio_package

    with ValidationContext(perform_io_checks=_io_checks()):
        description = load_description(rdf_path)
    if description.validation_summary.status == "failed" or not hasattr(description, "weights"):
        raise BlastoError(f"The BioImage Model Zoo description of {out.name} is not valid:\n"
                          + description.validation_summary.format())
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial.zip")
    save_bioimageio_package(description, output_path=partial)
    os.replace(partial, out)


def _io_checks() -> bool:
    return os.environ.get("BIOIMAGEIO_PERFORM_IO_CHECKS", "true").lower() not in ("0", "false", "no")
