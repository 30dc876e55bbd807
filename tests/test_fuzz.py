"""Fuzzed inputs: every reader either opens a mutated file or refuses it with a BlastoError
naming the file; no other exception, no hang, no memory blow-up (see tests/fuzzing.py).

About 450 seeded cases in all, a few seconds (the Keras group loads TensorFlow).
"""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

import fuzzing
from blasto.errors import BlastoError, MaskError, MovieError, TrainingError

GROUPS = {group.name: group for group in fuzzing.groups()}


@pytest.mark.parametrize("name", list(GROUPS))
def test_every_mutated_file_opens_or_is_refused_naming_it(name, tmp_path):
    rss = fuzzing.peak_rss_mb()
    outcomes = fuzzing.run_group(GROUPS[name], seed=0, root=tmp_path)
    crashes = [f"[{o.label}] {o.detail}" for o in outcomes if o.result == "crash"]
    assert not crashes, "\n".join(crashes)
    assert outcomes[0].result == "accepted", outcomes[0].detail  # the unmutated file opens
    assert any(o.result == "refused" for o in outcomes)
    # No case blew memory up (TensorFlow's own import aside).
    assert fuzzing.peak_rss_mb() - rss < (900 if name == "keras" else 300)


def _gif_with_screen(width: int, height: int) -> bytes:
    data = bytearray(fuzzing.gif_bytes())
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def test_a_header_declaring_huge_frames_is_refused_before_decoding(tmp_path):
    from blasto.movies import open_movie

    gif = tmp_path / "huge.gif"
    gif.write_bytes(_gif_with_screen(65535, 65535))  # Pillow itself refuses this one
    with pytest.raises(MovieError, match="huge.gif.*pixels"):
        open_movie(gif)
    gif.write_bytes(_gif_with_screen(10000, 9000))  # below Pillow's limit, above blasto's
    with pytest.raises(MovieError, match="huge.gif: the header declares frames of 10000x9000"):
        open_movie(gif)
    # A TIFF whose page declares 60000 x 60000 pixels.
    import tifffile

    tif = tmp_path / "huge.tif"
    tifffile.imwrite(tif, fuzzing._frames(2))
    data = bytearray(tif.read_bytes())
    with tifffile.TiffFile(tif) as handle:
        for page in handle.pages:
            for tag in ("ImageWidth", "ImageLength"):
                offset = page.tags[tag].valueoffset
                size = 2 if page.tags[tag].dtype == 3 else 4
                data[offset:offset + size] = (60000).to_bytes(size, "little")
    tif.write_bytes(bytes(data))
    with pytest.raises(MovieError, match="huge.tif"):
        with open_movie(tif) as movie:
            list(movie)


def test_float_tiff_with_nan_and_inf_maps_to_8_bit(tmp_path):
    import numpy as np
    import tifffile

    from blasto.movies import read_movie

    frames = np.linspace(0, 1, 3 * 8 * 8, dtype=np.float32).reshape(3, 8, 8)
    frames[0, 0, 0], frames[1, 0, 0], frames[2, 0, 0] = np.nan, np.inf, -np.inf
    tifffile.imwrite(tmp_path / "f.tif", frames)
    movie = read_movie(tmp_path / "f.tif")
    assert movie.dtype == np.uint8 and movie[1, 0, 0] == 255 and movie[2, 0, 0] == 0
    tifffile.imwrite(tmp_path / "nan.tif", np.full((3, 5, 6), np.nan, np.float32))
    assert read_movie(tmp_path / "nan.tif").shape == (3, 5, 6)


def test_a_zip_bomb_is_refused_before_extracting(roots, monkeypatch):
    from blasto.annotate import labdata
    from blasto.store.experiment import create_experiment

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("lab/train/a_x.png", b"\0" * 200_000)
    monkeypatch.setattr(labdata, "MAX_ZIP_BYTES", 100_000)
    experiment = create_experiment("zipbomb")
    with pytest.raises(MaskError, match="'lab.zip' unpacks to"):
        labdata.import_lab_zip(experiment, buffer.getvalue(), name="lab.zip")
    assert not experiment.imported_pairs("train")


def test_a_model_with_a_lambda_layer_is_refused_by_safe_mode(tmp_path):
    from blasto.model.files import load_model

    seeds = fuzzing._keras_seeds(tmp_path)
    (tmp_path / "lambda.keras").write_bytes(seeds["lambda"])
    with pytest.raises(TrainingError, match="lambda.keras: the model holds a Lambda layer"):
        load_model(tmp_path / "lambda.keras")
    (tmp_path / "wrong.keras").write_bytes(seeds["wrong"])
    with pytest.raises(TrainingError, match="wrong.keras: not a segmentation model"):
        load_model(tmp_path / "wrong.keras")
    (tmp_path / "text.keras").write_text("hello")
    with pytest.raises(TrainingError, match="text.keras: cannot load the model .not a .keras zip"):
        load_model(tmp_path / "text.keras")


def test_hand_edited_run_files_read_with_wrong_values_dropped(tmp_path):
    import json

    from blasto.train.runs import Run

    run = fuzzing._run_folder(tmp_path)
    (run / "status.json").write_text(json.dumps({"state": {"a": 1}, "epoch": "x", "best_val_loss": 0.3}))
    (run / "history.json").write_text(json.dumps([{"epoch": 1, "val_loss": "low"}, {"epoch": 2, "val_loss": 0.1}]))
    loaded = Run(run, active=False)
    assert loaded.status.state is None and loaded.status.epoch == 0 and loaded.status.best_val_loss == 0.3
    assert loaded.best.epoch == 2
    (run / "config.json").write_text(json.dumps({**json.loads((run / "config.json").read_text()), "epochs": "x"}))
    with pytest.raises(BlastoError, match="config.json"):
        Run(run, active=False).config  # noqa: B018
