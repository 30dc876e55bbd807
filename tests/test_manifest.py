"""The typed manifest: round 1's manifests open, unknown keys survive, newer and damaged ones
are refused with a message."""

import json

import pytest

from blasto.errors import ExperimentError
from blasto.store.experiment import create_experiment, open_experiment
from blasto.store.manifest import SCHEMA_VERSION, Background, Grid, Manifest, Pool, SourceMovie

#: A manifest as round 1 (schema 1) wrote it, with the demo's extra record.
ROUND_1 = {
    "schema_version": 1, "name": "plate", "created": "2026-11-27T10:00:00+00:00",
    "source": {"path": "/data/plate.tif", "n_frames": 144, "height": 1200, "width": 1200,
               "frame_interval_s": 600.0},
    "grid": {"rows": 4, "cols": 4, "top": 20, "left": 20, "bottom": 1180, "right": 1180},
    "size": 256,
    "pools": [{"number": 1, "box": [20, 20, 310, 310]}, {"number": 2, "box": [20, 310, 600, 600]}],
    "background": {"tolerance": 30, "fill_value": 141, "cleaned": True},
    "split": {"train": [1], "validation": [2]},
    "annotation": {"every": 15, "added": {"1": [7]}, "removed": {"2": [15]}},
    "frame_interval_s": 600.0, "pixel_size_um": 1.5, "notes": "",
    "demo": {"seed": 0, "manual_measurement_pools": [3, 14]},
}


def write_manifest(roots, values, name="plate"):
    data, _ = roots
    (data / name).mkdir()
    (data / name / "manifest.json").write_text(json.dumps(values))


def test_a_round_1_manifest_opens_typed_and_is_saved_in_the_current_schema(roots):
    write_manifest(roots, ROUND_1)
    experiment = open_experiment("plate")
    manifest = experiment.manifest
    assert manifest.schema_version == SCHEMA_VERSION
    assert manifest.source == SourceMovie("/data/plate.tif", 144, 1200, 1200, 600.0, None)
    assert manifest.grid == Grid(4, 4, 20, 20, 1180, 1180)
    assert manifest.pools[1] == Pool(2, (20, 310, 600, 600))
    assert manifest.background == Background(30, 141, True)
    assert manifest.split.side_of(2) == "validation" and manifest.split.side_of(5) is None
    assert manifest.annotation.added == {1: [7]} and manifest.annotation.removed == {2: [15]}
    assert manifest.source_pixels_per_working_pixel(1) == pytest.approx((290 / 256) ** 2)
    assert manifest.extra == {"demo": {"seed": 0, "manual_measurement_pools": [3, 14]}}
    experiment.save_manifest()
    saved = json.loads((experiment.path / "manifest.json").read_text())
    assert saved["schema_version"] == SCHEMA_VERSION
    assert saved["demo"] == ROUND_1["demo"]  # a key this version does not model survives
    assert saved["annotation"] == ROUND_1["annotation"]
    assert Manifest.from_dict(saved) == manifest


def test_a_new_manifest_round_trips(roots):
    experiment = create_experiment("fresh", size=128)
    assert experiment.size == 128 and experiment.manifest.pools == []
    assert open_experiment("fresh").manifest == experiment.manifest


@pytest.mark.parametrize("change, message", [
    ({"schema_version": SCHEMA_VERSION + 1}, "newer blasto"),
    ({"pools": [{"number": 1}]}, "damaged"),
    ({"split": {"train": ["one"]}}, "damaged"),
])
def test_newer_or_damaged_manifests_are_refused_by_name(roots, change, message):
    write_manifest(roots, {**ROUND_1, **change})
    with pytest.raises(ExperimentError, match=message) as error:
        open_experiment("plate")
    assert "manifest.json" in str(error.value)


def test_the_folder_name_is_the_experiment_name(roots):
    write_manifest(roots, ROUND_1, name="copy of plate")
    assert open_experiment("copy of plate").manifest.name == "copy of plate"


def test_every_path_is_built_by_the_experiment(roots):
    experiment = create_experiment("paths")
    root = experiment.path
    assert experiment.mask_path(3, 15) == root / "pools/pool03/masks/frame0015.png"
    assert experiment.strokes_path(3, 15) == root / "pools/pool03/strokes/frame0015.json"
    assert experiment.truth_path(3) == root / "pools/pool03/truth.tif"
    assert experiment.measurements_path(14) == root / "measurements/pool14.csv"
    assert experiment.prediction_path("demo", 2) == root / "predictions/demo/pool02.npy"
    assert experiment.imported_dir("train") == root / "imported/train"
    with pytest.raises(ExperimentError, match="Unknown side"):
        experiment.imported_dir("test")
