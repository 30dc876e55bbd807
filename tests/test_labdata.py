"""The lab's train/ and validation/ folders: import (with every refusal), export, round trip, CLI."""

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from blasto.annotate import labdata, labexport
from blasto.cli.main import main
from blasto.errors import MaskError
from blasto.store.experiment import create_experiment, list_experiments, open_experiment
from synthetic import set_pools
from blasto.masks import encode_lab_mask


def disc(size, *, radius, centre=None):
    rows, cols = np.mgrid[:size, :size]
    cy, cx = centre or (size / 2, size / 2)
    return (rows - cy) ** 2 + (cols - cx) ** 2 <= radius ** 2


def save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array)).save(path)


def lab_folder(root, *, train=3, validation=2, size=64, seed=0):
    """A lab folder as the lab keeps it: x_NNN.png images and y_NNN.png masks (black = cell)."""
    rng = np.random.default_rng(seed)
    for side, count in (("train", train), ("validation", validation)):
        for i in range(count):
            image = rng.integers(0, 256, (size, size), dtype=np.uint8)
            cell = disc(size, radius=size // 4 + i, centre=(size / 2 + i, size / 2))
            save(root / side / f"x_{i:03d}.png", image)
            save(root / side / f"y_{i:03d}.png", encode_lab_mask(cell))
    return root


@pytest.fixture
def experiment(roots):
    return create_experiment("lab")


def test_names_decide_image_mask_ignored_or_ambiguous():
    assert labdata.classify_name("img_x12.tif") == "image"
    assert labdata.classify_name("Y12.PNG") == "mask"
    assert labdata.classify_name("embryo_y_3.png") == "mask"  # 'y' as its own word decides
    assert labdata.classify_name("xy_3.png") == "ambiguous"
    assert labdata.classify_name("notes.png") is None


def test_import_keeps_sides_resizes_and_pairs_in_sorted_order(experiment, tmp_path):
    folder = lab_folder(tmp_path / "lab", size=64)
    (folder / "train" / "README.txt").write_text("not an image")
    report = labdata.import_lab_folder(experiment, folder)
    assert report.pairs == {"train": 3, "validation": 2}
    assert any("README.txt" in w for w in report.warnings)  # ignored, and said so
    pairs = experiment.imported_pairs("train")
    assert len(pairs) == 3 and len(experiment.imported_pairs("validation")) == 2
    image = np.asarray(Image.open(pairs[2][0]))
    mask = np.asarray(Image.open(pairs[2][1]))
    assert image.shape == mask.shape == (256, 256)  # resized to the working size
    assert set(np.unique(mask)) <= {0, 255}
    # Pair 2's disc is shifted down by 2 source pixels (8 at 256): the masks kept their order.
    rows, cols = (np.mgrid[:256, :256] + 0.5) / 4 - 0.5  # in source pixels
    agreement = [np.mean((mask == 0) == ((rows - 32 - i) ** 2 + (cols - 32) ** 2 <= (16 + i) ** 2))
                 for i in range(3)]
    assert agreement[2] > 0.99 and agreement[2] > max(agreement[:2])


def test_importing_the_same_folder_twice_skips_what_is_there_and_says_so(experiment, tmp_path):
    # Round 1 silently doubled the pairs (160 became 320).
    folder = lab_folder(tmp_path / "lab")
    labdata.import_lab_folder(experiment, folder)
    again = labdata.import_lab_folder(experiment, folder)
    assert again.pairs == {"train": 0, "validation": 0}
    assert again.skipped == {"train": 3, "validation": 2}
    assert "Imported nothing new. Skipped 3 train, 2 validation pair(s) already imported" in again.summary()
    assert len(experiment.imported_pairs("train")) == 3
    # Another folder with one new pair and the others as before: only the new one is added.
    other = lab_folder(tmp_path / "other", train=4, validation=0)
    added = labdata.import_lab_folder(experiment, other)
    assert added.pairs == {"train": 1} and added.skipped == {"train": 3}
    assert len(experiment.imported_pairs("train")) == 4
    # replace=True starts the sides it imports over (validation is not in "other": kept).
    replaced = labdata.import_lab_folder(experiment, folder, replace=True)
    assert replaced.pairs == {"train": 3, "validation": 2} and replaced.replaced == {"train": 4, "validation": 2}
    assert len(experiment.imported_pairs("train")) == 3
    assert len(experiment.imported_pairs("validation")) == 2


def test_an_experiment_of_imported_pairs_only_counts_them(experiment, tmp_path):
    # Round 1 showed 0 annotated frames and 0/0 for an experiment made only from lab pairs.
    labdata.import_lab_folder(experiment, lab_folder(tmp_path / "lab", train=3, validation=2))
    summary = experiment.summary()
    assert summary.pools == 0 and summary.imported_pairs == 5 and summary.annotated_frames == 5
    assert (summary.train_frames, summary.validation_frames) == (3, 2)
    assert "5 annotated frames (5 imported), 3 train / 2 validation frames" in summary.describe()


def test_smoothly_resized_masks_are_thresholded_at_mid_gray(experiment, tmp_path):
    folder = tmp_path / "lab"
    cell = disc(512, radius=120)
    smooth = Image.fromarray(encode_lab_mask(cell)).resize((300, 300), Image.Resampling.BICUBIC)
    save(folder / "train" / "x1.png", np.full((300, 300), 90, np.uint8))
    smooth.save(folder / "train" / "y1.png")
    labdata.import_lab_folder(experiment, folder)
    _, mask_path = experiment.imported_pairs("train")[0]
    mask = np.asarray(Image.open(mask_path))
    assert set(np.unique(mask)) == {0, 255}
    assert abs((mask == 0).mean() - disc(256, radius=60).mean()) < 0.01


@pytest.mark.parametrize("problem, message", [
    ("unequal", "2 image"),
    ("photo", "not a black-and-white mask"),
    ("unreadable", "cannot read"),
    ("ambiguous", "both 'x' and 'y'"),
    ("no sides", "no train/ or validation/"),
])
def test_refusals_write_nothing(experiment, tmp_path, problem, message):
    folder = lab_folder(tmp_path / "lab")
    if problem == "unequal":
        (folder / "validation" / "y_001.png").unlink()
    elif problem == "photo":
        gradient = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (64, 1))
        save(folder / "validation" / "y_001.png", gradient)
    elif problem == "unreadable":
        (folder / "validation" / "x_001.png").write_bytes(b"this is not a png")
    elif problem == "ambiguous":
        save(folder / "train" / "xy_009.png", np.zeros((8, 8), np.uint8))
    elif problem == "no sides":
        folder = tmp_path / "elsewhere"
        save(folder / "x_1.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(MaskError, match=message) as info:
        labdata.import_lab_folder(experiment, folder)
    # The message names the file (or folder) at fault.
    assert str(tmp_path) in str(info.value)
    # Train/ was fine, validation/ was not: still nothing at all was written.
    assert experiment.imported_pairs("train") == []
    assert not (experiment.path / "imported").exists()


def test_all_white_or_all_black_masks_are_warned_not_refused(experiment, tmp_path):
    folder = tmp_path / "lab"
    save(folder / "train" / "x_1.png", np.zeros((32, 32), np.uint8))
    save(folder / "train" / "y_1.png", np.full((32, 32), 255, np.uint8))
    save(folder / "train" / "x_2.png", np.zeros((32, 32), np.uint8))
    save(folder / "train" / "y_2.png", np.zeros((32, 32), np.uint8))
    report = labdata.import_lab_folder(experiment, folder)
    assert report.pairs == {"train": 2}
    assert any("all white" in w and "y_1.png" in w for w in report.warnings)
    assert any("all black" in w and "y_2.png" in w for w in report.warnings)


def demo_like_experiment(name, *, size=32, frames=31):
    """Three pools (two train, one validation), hand masks on frames 0 and 15."""
    experiment = create_experiment(name)
    set_pools(experiment, (1, 2, 3), size=size, box=(0, 0, 1, 1))
    rng = np.random.default_rng(1)
    for pool in (1, 2, 3):
        movie = rng.integers(0, 256, (frames, size, size), dtype=np.uint8)
        experiment.write_pool_movie(pool, movie, cleaned=True)
        for frame in (0, 15):
            cell = disc(size, radius=5 + pool, centre=(10 + frame // 5, 16))
            experiment.write_mask(pool, frame, cell)
    experiment.set_split([1, 2], [3])
    return experiment


def test_export_then_import_is_lossless_at_the_working_size(roots, tmp_path):
    source = demo_like_experiment("source")
    lab = lab_folder(tmp_path / "lab", train=1, validation=1, size=32)
    labdata.import_lab_folder(source, lab)
    out = tmp_path / "export"
    counts = labexport.export_lab_folder(source, out)
    assert counts == {"train": 4 + 1, "validation": 2 + 1}
    names = sorted(p.name for p in (out / "train").iterdir())
    assert names[:2] == ["imported_image0000_x.png", "imported_image0000_y.png"]
    assert "pool01_frame0015_x.png" in names and "pool01_frame0015_y.png" in names
    xs = sorted(n for n in names if "x" in n)
    ys = sorted(n for n in names if "y" in n)
    assert [n.replace("_x", "") for n in xs] == [n.replace("_y", "") for n in ys]

    target = create_experiment("target")
    target.manifest.size = 32
    target.save_manifest()
    labdata.import_lab_folder(target, out)
    movie = source.read_pool_movie(1)
    image, mask = target.imported_pairs("train")[1]  # sorted: imported_..., then pool01_frame0000
    assert np.array_equal(np.asarray(Image.open(image)), movie[0])
    assert np.array_equal(np.asarray(Image.open(mask)) == 0, source.read_mask(1, 0))
    exported_again = {(side, n): (a, m) for side, n, a, m in labexport.export_items(target)}
    assert len(exported_again) == 8
    for _, stem, image, cell in labexport.export_items(source):
        again = [v for v in exported_again.values() if np.array_equal(v[0], image)]
        assert again and np.array_equal(again[0][1], cell)


def test_export_refuses_a_non_empty_folder_unless_forced(roots, tmp_path):
    experiment = demo_like_experiment("export")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(MaskError, match="not empty"):
        labexport.export_lab_folder(experiment, out)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    labexport.export_lab_folder(experiment, out, force=True)
    labexport.export_lab_folder(experiment, out, force=True)  # replaces, does not add
    assert len(list((out / "train").iterdir())) == 2 * 4
    assert (out / "keep.txt").read_text() == "mine"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_zip_export_and_import(roots, tmp_path):
    experiment = demo_like_experiment("zipped")
    data = labexport.export_lab_zip(experiment)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
    assert "validation/pool03_frame0015_y.png" in names
    target = create_experiment("from-zip")
    target.manifest.size = 32
    target.save_manifest()
    report = labdata.import_lab_zip(target, data)
    assert report.pairs == {"train": 4, "validation": 2}
    with pytest.raises(MaskError, match="not a zip"):
        labdata.import_lab_zip(target, b"PK no")


def test_cli_import_creates_the_experiment_and_export_writes_the_layout(roots, tmp_path, capsys):
    data, _ = roots
    lab = lab_folder(tmp_path / "lab", size=40)
    assert main(["import-masks", str(lab), "--experiment", "from lab", "--size", "64"]) == 0
    assert "Imported 3 train, 2 validation" in capsys.readouterr().out
    experiment = open_experiment("from lab")
    assert experiment.manifest.size == 64
    image, _ = experiment.imported_pairs("train")[0]
    assert Image.open(image).size == (64, 64)

    out = tmp_path / "exported"
    assert main(["export-masks", "--experiment", "from lab", str(out)]) == 0
    assert len(list((out / "train").glob("*_x.png"))) == 3
    assert main(["export-masks", "--experiment", "from lab", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["export-masks", "--experiment", "from lab", str(out), "--force"]) == 0
    capsys.readouterr()
    assert main(["import-masks", str(lab), "--experiment", "from lab"]) == 0
    assert "Skipped 3 train, 2 validation pair(s) already imported" in capsys.readouterr().out
    assert main(["list"]) == 0
    assert "5 annotated frames (5 imported)" in capsys.readouterr().out

    # Pools on neither side of the split are left out, and said so.
    split_off = demo_like_experiment("half split")
    split_off.set_split([1], [3])
    assert labexport.unsplit_pools(split_off) == [2]
    assert main(["export-masks", "--experiment", "half split", str(tmp_path / "half")]) == 0
    assert "neither side of the split: pool(s) 2." in capsys.readouterr().out
    assert len(list((tmp_path / "half" / "train").iterdir())) == 2 * 2

    # A refused import creates no experiment.
    (lab / "train" / "y_000.png").write_bytes(b"garbage")
    assert main(["import-masks", str(lab), "--experiment", "broken"]) == 2
    assert "y_000.png" in capsys.readouterr().err
    assert "broken" not in list_experiments()
