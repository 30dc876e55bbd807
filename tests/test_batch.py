"""``python -m blasto batch``: three tiny plates (one corrupt) on a LocalCluster of 2 workers.

The workers are threads of the test process (``--in-process``), so the cluster starts in about
a second. The model is a 1x1 convolution that calls dark pixels cell: its areas are the plates'
dark 'cells', so the comparison with ``crop`` + ``predict`` compares real numbers, not zeros.
"""

import os
import shutil

import numpy as np
import pandas as pd
import pytest
import tifffile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

pytest.importorskip("distributed")

from blasto.batch.inputs import find_movies, name_plates, parse_shard, take_shard  # noqa: E402
from blasto.cli.main import main  # noqa: E402
from test_grid_crop import make_plate, write_plate  # noqa: E402

SIZE = 32


def dark_is_cell_model(folder):
    """A saved Keras model: P(cell) = sigmoid(6 - 10 x) for x in [0, 1] (dark = cell)."""
    import keras

    inputs = keras.Input((SIZE, SIZE, 1))
    layer = keras.layers.Conv2D(1, 1, activation="sigmoid")
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([np.full((1, 1, 1, 1), -10.0, np.float32), np.array([6.0], np.float32)])
    folder.mkdir(parents=True)
    model.save(folder / "best.keras")
    return folder


@pytest.fixture
def plates(tmp_path):
    movies = tmp_path / "movies"
    movies.mkdir()
    write_plate(movies / "plate_a.tif", make_plate(4, seed=1))
    write_plate(movies / "plate_b.tif", make_plate(3, seed=2))
    (movies / "plate_c.gif").write_bytes(b"GIF89a" + b"\x00" * 10)  # corrupt
    return movies


def batch(plates, model, out, *extra):
    return main(["batch", str(plates), "--model", str(model), "--out", str(out), "--size", str(SIZE),
                 "--min-size", "0", "--workers", "2", "--in-process", *extra])


def test_batch_matches_predict_names_the_corrupt_plate_and_resumes(roots, plates, tmp_path, capsys):
    model = dark_is_cell_model(roots[1] / "dark")
    out = tmp_path / "out"
    assert batch(plates, model, out) == 1  # one plate failed
    text = capsys.readouterr().out
    assert "2 workers" in text and "2 done, 0 skipped, 1 failed of 3 plates" in text
    assert "failed: plate_c" in text and "plate_c.gif" in text
    assert "plate_a: predicting" in text  # per-plate progress

    # The same plate through crop + predict gives the same table and masks.
    assert main(["crop", str(plates / "plate_a.tif"), "--experiment", "single", "--size", str(SIZE)]) == 0
    assert main(["predict", "--experiment", "single", "--model", str(model), "--out", str(tmp_path / "single"),
                 "--min-size", "0", "--masks", "ome-tiff", "--no-movie"]) == 0
    capsys.readouterr()
    single = pd.read_csv(tmp_path / "single" / "areas.csv")
    batched = pd.read_csv(out / "plates" / "plate_a" / "areas.csv")
    pd.testing.assert_frame_equal(batched, single)
    for name in ("events.csv", "summary.csv"):  # the events too, as predict writes them
        assert (out / "plates" / "plate_a" / name).read_text() == (tmp_path / "single" / name).read_text()
    assert single["area_px"].between(20, 200).all()  # the dark cells were found
    for pool in (1, 16):
        name = f"pool{pool:02d}.ome.tif"
        with tifffile.TiffFile(out / "plates" / "plate_a" / "masks" / name) as tif:
            assert tif.is_ome and tif.series[0].axes == "TYX"
            assert np.array_equal(tif.asarray(), tifffile.imread(tmp_path / "single" / "masks" / name))

    combined = pd.read_csv(out / "areas.csv")
    assert combined.columns[:3].tolist() == ["plate", "pool", "frame"]
    assert combined.groupby("plate").size().to_dict() == {"plate_a": 16 * 4, "plate_b": 16 * 3}

    # A second run skips everything: nothing is cropped or predicted again.
    stamps = {p: p.stat().st_mtime_ns for p in (out / "plates").rglob("*") if p.is_file()}
    assert batch(plates, model, out) == 1
    assert "0 done, 2 skipped, 1 failed" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps

    # Interrupted inside plate_b: its crop and 15 of its 16 pools' predictions are kept.
    (out / "plates" / "plate_b" / "plate.json").unlink()
    cache = out / "experiments" / "plate_b" / "predictions" / "dark"
    (cache / "pool05.npy").unlink()
    raw = out / "experiments" / "plate_b" / "pools" / "pool01" / "raw.tif"
    before = raw.stat().st_mtime_ns
    assert batch(plates, model, out) == 1
    assert "1 done, 1 skipped, 1 failed" in capsys.readouterr().out
    assert raw.stat().st_mtime_ns == before
    import json

    assert json.loads((out / "batch.json").read_text())["plates"][1]["predicted"] == 3  # one pool


def test_inputs_globs_names_and_shards(plates, tmp_path):
    frames = tmp_path / "movies" / "frames_plate"
    frames.mkdir()
    for t in range(2):
        tifffile.imwrite(frames / f"frame{t}.tif", make_plate(1)[0])
    found = find_movies([str(plates / "*.tif"), str(plates)])
    assert [p.name for p in found] == ["frames_plate", "plate_a.tif", "plate_b.tif", "plate_c.gif"]
    assert [p.name for p in name_plates(found)] == ["frames_plate", "plate_a", "plate_b", "plate_c"]
    assert take_shard(found, parse_shard("0/2")) == [found[0], found[2]]
    env = {"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "2"}
    assert parse_shard(None, environ=env) == (1, 2)


def test_batch_refuses_bad_arguments(roots, plates, tmp_path, capsys):
    model = dark_is_cell_model(roots[1] / "dark")
    assert main(["batch", str(tmp_path / "nothing*.gif"), "--model", str(model), "--out", str(tmp_path)]) == 2
    assert "no file or folder matches" in capsys.readouterr().err
    assert main(["batch", str(plates), "--model", str(model), "--out", str(tmp_path), "--shard", "2/2"]) == 2
    assert "0 <= K < N" in capsys.readouterr().err
    shutil.rmtree(model)
    assert main(["batch", str(plates), "--model", str(model), "--out", str(tmp_path)]) == 2
