"""``python -m blasto crop`` and ``clean``, run in-process through blasto.cli.main."""

import numpy as np
import pytest

from blasto.cli.main import main
from blasto.store.experiment import list_experiments, open_experiment
from test_grid_crop import TRUE_GRID, make_plate, write_plate


@pytest.fixture
def plate(tmp_path):
    return write_plate(tmp_path / "plate.tif", make_plate(6))


def test_crop_suggests_grid_crops_and_cleans(roots, plate, capsys):
    assert main(["crop", str(plate), "--experiment", "run1", "--size", "32", "--tolerance", "25"]) == 0
    out = capsys.readouterr().out
    assert "6 frames of 200x190 pixels" in out and "frame interval 600 s" in out
    assert "grid (suggested)" in out and "cropping [" in out and "6/6" in out
    assert "16 pools of 32x32 pixels" in out and "validation pools 12,13,14,15,16" in out

    experiment = open_experiment("run1")
    grid = experiment.manifest.grid
    for key in ("top", "left", "bottom", "right"):
        assert abs(getattr(grid, key) - getattr(TRUE_GRID, key)) <= 3
    assert experiment.manifest.background.cleaned is True
    assert experiment.manifest.background.tolerance == 25
    clean = experiment.read_pool_movie(7)
    assert experiment.pool_movie_path(7).name == "clean.tif" and clean.shape == (6, 32, 32)
    assert np.all(clean[:, 0, 0] == experiment.manifest.background.fill_value)


def test_crop_opens_the_movie_once_and_closes_it(roots, plate, monkeypatch, capsys):
    # Opening a video decodes it whole to count frames: the command opens the source once,
    # for the summary, the grid and the crop, and closes it.
    import blasto.cli.crop
    import blasto.prepare.crop
    import blasto.movies

    opened = []

    def counting_open(path):
        movie = blasto.movies.open_movie(path)
        opened.append(movie)
        return movie

    monkeypatch.setattr(blasto.cli.crop, "open_movie", counting_open)
    monkeypatch.setattr(blasto.prepare.crop, "open_movie", counting_open)
    assert main(["crop", str(plate), "--experiment", "once", "--size", "16"]) == 0
    assert "6/6" in capsys.readouterr().out
    assert len(opened) == 1 and opened[0]._tif.filehandle.closed
    assert open_experiment("once").read_pool_movie(1).shape == (6, 16, 16)


def test_crop_with_given_grid_then_reclean(roots, plate, capsys):
    args = ["crop", str(plate), "--experiment", "run2", "--size", "16", "--rows", "2", "--cols", "2",
            "--grid", "12,20,92,100"]
    assert main(args) == 0
    experiment = open_experiment("run2")
    assert experiment.manifest.pools[3].box == (52, 60, 92, 100)
    assert experiment.pool_numbers == [1, 2, 3, 4]

    assert main(["clean", "--experiment", "run2", "--tolerance", "5"]) == 0
    assert "4 pools cleaned" in capsys.readouterr().out
    assert open_experiment("run2").manifest.background.tolerance == 5

    # With a hand mask saved, cropping again is refused unless --overwrite.
    experiment.write_mask(1, 0, np.zeros((16, 16), bool))
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert open_experiment("run2").read_mask(1, 0) is not None
    assert main(args + ["--overwrite"]) == 0
    assert open_experiment("run2").read_mask(1, 0) is None


def test_bad_movie_exits_2_and_writes_nothing(roots, tmp_path, capsys):
    bad = tmp_path / "broken.gif"
    bad.write_bytes(b"GIF89a" + b"\x00" * 10)
    assert main(["crop", str(bad), "--experiment", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "broken.gif" in err and "Traceback" not in err
    assert list_experiments() == [] and not any(roots[0].iterdir())


def test_bad_arguments_exit_2(roots, plate, capsys):
    assert main(["crop", str(plate), "--experiment", "../up"]) == 2
    assert "not allowed" in capsys.readouterr().err
    assert main(["crop", str(plate), "--experiment", "x", "--grid", "0,0,900,900"]) == 2
    assert "outside" in capsys.readouterr().err
    assert main(["crop", str(plate), "--experiment", "x", "--tolerance", "300"]) == 2
    assert "Tolerance" in capsys.readouterr().err
    assert list_experiments() == []
    assert main(["clean", "--experiment", "missing"]) == 2
    assert "No experiment called 'missing'" in capsys.readouterr().err
