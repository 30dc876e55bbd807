"""A trained run as a BioImage Model Zoo package that bioimageio.core validates, offline."""

import zipfile

import pytest

from blasto.cli.main import main
from blasto.errors import BlastoError
from synthetic import tiny_experiment

pytest.importorskip("bioimageio.core")


@pytest.fixture
def tiny_run(roots):
    """A run of one short epoch on a tiny 32x32 experiment."""
    from blasto.train.config import TrainConfig
    from blasto.train.worker import train

    tiny_experiment(pools=3, frames=4)
    return train(TrainConfig(experiment="tiny", epochs=1, steps_per_epoch=2, batch_size=2,
                             start_filters=4, mixed_precision=False))


def test_export_model_writes_a_package_bioimageio_core_validates(tiny_run, tmp_path, monkeypatch, capsys):
    from bioimageio.core import test_model

    monkeypatch.setenv("BIOIMAGEIO_PERFORM_IO_CHECKS", "false")
    out = tmp_path / "tiny.zip"
    assert main(["export-model", str(tiny_run.path), "--format", "bioimageio", "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    names = set(zipfile.ZipFile(out).namelist())
    assert {"rdf.yaml", "weights.keras", "test_input.npy", "test_output.npy", "cover.png",
            "README.md"} <= names
    readme = zipfile.ZipFile(out).read("README.md").decode()
    assert "**tiny**" in readme and "Validation Dice at the best epoch" in readme

    summary = test_model(out)
    assert summary.status == "passed", summary.format()
    reproduced = [d for d in summary.details if d.name.startswith("Reproduce test outputs")]
    assert reproduced and reproduced[0].status == "passed"


def test_export_model_refuses_a_name_that_is_not_a_zip(tiny_run, tmp_path):
    from blasto.model.bioimageio import export_bioimageio

    with pytest.raises(BlastoError, match="FILE.zip"):
        export_bioimageio(tiny_run.path, tmp_path / "tiny.tar")
    assert main(["export-model", "no-such-model", "--out", str(tmp_path / "x.zip")]) == 2
