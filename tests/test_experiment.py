"""The experiment store: names, manifest, masks, atomic writes."""

import json
import os
import stat

import numpy as np
import pytest

from blasto.store import atomic
from blasto.errors import ExperimentError, MaskError
from blasto.store.experiment import (
    create_experiment, delete_experiment, list_experiments, open_experiment, validate_name,
)
from blasto.masks import decode_lab_mask, encode_lab_mask
from blasto.store.manifest import SCHEMA_VERSION


@pytest.mark.parametrize("name", ["../x", "a/b", "a\\b", ".hidden", "", "   ", "a" * 65, "x..y", "semi;colon"])
def test_bad_names_are_refused_with_a_message(name, roots):
    with pytest.raises(ExperimentError, match="(not allowed|empty)"):
        create_experiment(name)
    assert list_experiments() == []


@pytest.mark.parametrize("name", ["demo", "plate 1", "2026-11-27_run.b"])
def test_good_names(name):
    assert validate_name(name) == name


def test_create_list_open_delete(roots):
    data, _ = roots
    create_experiment("b")
    create_experiment("a")
    assert list_experiments() == ["a", "b"]
    (data / "not-an-experiment").mkdir()
    assert list_experiments() == ["a", "b"]
    with pytest.raises(ExperimentError, match="already exists"):
        create_experiment("a")
    assert open_experiment("a").manifest.schema_version == SCHEMA_VERSION
    delete_experiment("a")
    assert list_experiments() == ["b"]
    with pytest.raises(ExperimentError, match="No experiment called 'a'"):
        open_experiment("a")


def test_broken_manifest_is_reported(roots):
    data, _ = roots
    experiment = create_experiment("x")
    (experiment.path / "manifest.json").write_text("{not json")
    with pytest.raises(ExperimentError, match="not valid JSON"):
        open_experiment("x")


def test_mask_polarity_round_trip(roots):
    experiment = create_experiment("m")
    cell = np.zeros((256, 256), bool)
    cell[100:150, 80:200] = True
    path = experiment.write_mask(3, 15, cell)
    from PIL import Image

    on_disk = np.asarray(Image.open(path))
    assert on_disk[120, 100] == 0 and on_disk[0, 0] == 255  # black = cell
    assert np.array_equal(experiment.read_mask(3, 15), cell)
    assert experiment.annotated_frames(3) == [15]
    assert experiment.read_mask(3, 30) is None


def test_wrong_size_mask_is_refused_and_nothing_written(roots):
    experiment = create_experiment("m")
    with pytest.raises(MaskError, match="this experiment's pool frames are 256x256"):
        experiment.write_mask(1, 0, np.zeros((100, 100), bool))
    assert experiment.annotated_frames(1) == []


def test_smoothed_lab_mask_is_thresholded_at_mid_gray():
    image = np.array([[0, 60, 127, 128, 200, 255]], np.uint8)
    assert decode_lab_mask(image).tolist() == [[True, True, True, False, False, False]]
    assert np.array_equal(decode_lab_mask(encode_lab_mask(image < 128)), image < 128)


def test_split_refuses_a_pool_on_both_sides(roots):
    experiment = create_experiment("s")
    with pytest.raises(ExperimentError, match="both the train and the validation"):
        experiment.set_split([1, 2, 3], [3, 4])
    experiment.set_split(range(1, 12), range(12, 17))
    assert open_experiment("s").manifest.split.side_of(12) == "validation"


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "manifest.json"
    atomic.write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


@pytest.fixture(params=[0o022, 0o027])
def umask(request):
    """The process's umask set to a lab server's usual ones for one test, then restored."""
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_writes_get_the_users_normal_permissions(tmp_path, umask):
    # What the lab's other users may read: as open(path, "w") would make it, never mkstemp's 0600.
    assert atomic.umask() == atomic._umask_by_setting.__wrapped__() == umask
    writers = {
        "a.json": lambda path: atomic.write_json(path, {"a": 1}),
        "a.png": lambda path: atomic.write_png(path, np.zeros((4, 4), np.uint8)),
        "a.npy": lambda path: atomic.write_npy(path, np.zeros(3)),
        "a.tif": lambda path: atomic.write_tiff(path, np.zeros((2, 4, 4), np.uint8)),
    }
    for name, write in writers.items():
        write(tmp_path / name)
        assert _mode(tmp_path / name) == 0o666 & ~umask, name
    assert os.umask(umask) == umask  # reading it changed nothing


def test_atomic_replace_keeps_the_files_mode(tmp_path, umask):
    for mode in (0o600, 0o640, 0o664):
        target = tmp_path / f"kept-{mode:o}.txt"
        target.write_text("old")
        target.chmod(mode)
        atomic.write_text(target, "new")
        assert target.read_text() == "new" and _mode(target) == mode
