"""The demo plate: deterministic, realistic enough, and its truth matches its movie.

Most checks use a short plate drawn in memory (20 frames); the full default demo (the session
fixture ``demo_source``, shared with the other tests) is checked once for what only it has:
144 frames, collapses, bubbles, manual measurements, masks every 15th frame.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import tifffile
from PIL import Image
from scipy import ndimage as ndi

from blasto import demo
from blasto.demo import write as demo_write
from blasto.cli.main import main
from blasto.prepare.crop import crop_box
from blasto.errors import BlastoError
from blasto.store.experiment import Experiment, list_experiments
from blasto.store.manifest import Split
from blasto.review.measurements import load_saved_measurements, parse_measurements
from blasto.movies import open_movie

SHORT = 20


@pytest.fixture(scope="module")
def short_plate():
    """A 20-frame demo plate drawn in memory: (movie, truth, scene)."""
    return demo.synthesize_plate(seed=1, n_frames=SHORT)


@pytest.fixture(scope="module")
def full(demo_source):
    """The default demo's plate movie (memory-mapped), truth, scene and experiment."""
    movie_dir = demo_source / demo.MOVIE_DIR
    return {
        "movie": tifffile.memmap(movie_dir / "plate.tif", mode="r"),
        "truth": tifffile.imread(movie_dir / "truth.tif"),
        "scene": json.loads((movie_dir / "scene.json").read_text()),
        "experiment": Experiment(demo_source / demo.EXPERIMENT_NAME),
        "dir": movie_dir,
    }


def _pool_mask(scene_pool, shape):
    """Boolean disc of a pool (from scene.json or a Scene) in plate coordinates."""
    (cy, cx), radius = scene_pool
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 < radius**2


# -- the generator ------------------------------------------------------------------------------
def test_other_seed_other_plate(short_plate):
    movie, truth, _ = short_plate
    other_movie, other_truth, _ = demo.synthesize_plate(seed=2, n_frames=10)
    assert not np.array_equal(truth[:10], other_truth)
    assert np.abs(movie[:10].astype(int) - other_movie).mean() > 2


def test_plate_size_frames_and_types(short_plate):
    movie, truth, scene = short_plate
    assert movie.shape == truth.shape == (SHORT, demo.PLATE_SIZE, demo.PLATE_SIZE)
    assert movie.dtype == truth.dtype == np.uint8
    assert 1100 <= demo.PLATE_SIZE <= 1300
    assert len(scene.boxes) == 16
    assert all(280 <= b - t <= 300 and 280 <= r - l <= 300 for t, l, b, r in scene.boxes)
    assert set(np.unique(truth)) <= set(range(17))


def test_each_pool_holds_one_or_two_cells_inside_it(short_plate):
    _, truth, scene = short_plate
    for index, (top, left, bottom, right) in enumerate(scene.boxes):
        pool = index + 1
        pool_disc = _pool_mask((scene.pool_centers[index], scene.pool_radii[index] - 3), truth.shape[1:])
        n_cells = sum(cell.pool == pool for cell in scene.cells)
        assert n_cells in (1, 2)
        for t in (0, SHORT // 2, SHORT - 1):
            cell = truth[t] == pool
            assert ndi.label(cell)[1] == n_cells, (pool, t)
            assert not (cell & ~pool_disc).any(), f"pool {pool} frame {t}: a cell leaves its pool"
            assert cell[top:bottom, left:right].sum() == cell.sum()


def test_plate_is_dark_around_light_pools(short_plate):
    movie, _, scene = short_plate
    frame = movie[0].astype(float)
    pools = np.zeros(frame.shape, bool)
    for center, radius in zip(scene.pool_centers, scene.pool_radii):
        pools |= _pool_mask((center, radius), frame.shape)
    assert frame[~pools].mean() < 60
    assert 120 < np.median(frame[pools]) < 200


def test_cells_are_textured_and_outlined_where_the_truth_says(short_plate):
    movie, truth, scene = short_plate
    for t in (0, SHORT - 1):
        frame = movie[t].astype(np.float32)
        detail = np.abs(frame - ndi.gaussian_filter(frame, 2.0))
        clear = ~ndi.binary_dilation(truth[t] > 0, iterations=25)  # beyond every zona
        for index in range(16):
            pool = index + 1
            cell = truth[t] == pool
            fluid = clear & _pool_mask((scene.pool_centers[index], scene.pool_radii[index] - 12),
                                       frame.shape)
            # Texture (trophectoderm cells, inner cell mass) inside; smooth pool fluid around.
            assert detail[cell].mean() > 1.5 * detail[fluid].mean(), (pool, t)
            # The membrane is dark exactly on the truth's outline.
            outline = cell & ~ndi.binary_erosion(cell)
            assert frame[outline].mean() < np.median(frame[fluid]) - 15, (pool, t)


def test_truth_of_one_frame_does_not_fit_another(short_plate):
    """Frame for frame: the outline darkness drops when the truth is taken from another frame."""
    movie, truth, _ = short_plate
    for t in (SHORT // 2, SHORT - 1):
        frame = movie[t].astype(float)
        outline_0 = (truth[0] > 0) & ~ndi.binary_erosion(truth[0] > 0)
        outline_t = (truth[t] > 0) & ~ndi.binary_erosion(truth[t] > 0)
        assert frame[outline_t].mean() < frame[outline_0 & ~outline_t].mean() - 10


def test_true_areas_counts_pixels_of_each_pool():
    labels = np.zeros((2, 4, 4), np.uint8)
    labels[0, :2, :2] = 3
    labels[1, 0, 0] = 16
    areas = demo.true_areas(labels)
    assert areas.shape == (2, 17)
    assert areas[0, 3] == 4 and areas[1, 16] == 1 and areas[1, 3] == 0


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(BlastoError, match="10 to 1000 frames"):
        demo.synthesize_plate(seed=0, n_frames=3)
    with pytest.raises(BlastoError, match="seed"):
        demo.write_demo(tmp_path, seed=-1, n_frames=SHORT)
    assert not any(tmp_path.iterdir())


# -- the full default demo ------------------------------------------------------------------------
def test_movie_reader_sees_144_frames_10_minutes_apart_of_1_5_um_pixels(full):
    with open_movie(full["dir"] / "plate.tif") as movie:
        assert movie.n_frames == 144
        assert (movie.height, movie.width) == (demo.PLATE_SIZE, demo.PLATE_SIZE)
        assert movie.frame_interval_s == 600.0
        assert movie.pixel_size_um == demo.PIXEL_SIZE_UM
        assert np.array_equal(movie.frame(77), full["movie"][77])
    assert full["truth"].shape == full["movie"].shape


def test_cells_grow_collapse_and_reexpand(full):
    areas = demo.true_areas(full["truth"])
    scene = full["scene"]
    single = [p["number"] for p in scene["pools"] if p["cells"] == 1]
    collapses = 0
    for cell in scene["cells"]:
        if cell["pool"] not in single:
            continue
        curve = areas[:, cell["pool"]].astype(float)
        assert curve.max() > 1.4 * curve[0], f"pool {cell['pool']} never expands"
        for when in cell["collapse_frames"]:
            before, after = curve[when - 1], curve[when: when + 3].min()
            assert after < 0.85 * before, f"pool {cell['pool']}: no collapse at frame {when}"
            # ...and it re-expands afterwards (or the movie ends first).
            later = curve[when + 3:]
            if len(later) > 20:
                assert later.max() > 1.15 * after
            collapses += 1
    assert collapses >= 10
    # Cells collapse at their own times.
    times = {tuple(c["collapse_frames"]) for c in scene["cells"]}
    assert len(times) > len(scene["cells"]) // 2


def test_bubbles_pop_out_and_drift_outside_the_truth(full):
    bubbles = full["scene"]["bubbles"]
    assert len(bubbles) >= 5
    assert len({b["pool"] for b in bubbles}) >= 3
    movie, truth = full["movie"], full["truth"]
    for bubble in bubbles:
        start, (y0, x0), (y1, x1) = bubble["start"], bubble["track"][0], bubble["track"][-1]
        assert np.hypot(y1 - y0, x1 - x0) > 5, "a bubble drifts away"
        for i in (0, len(bubble["track"]) - 1):
            y, x = (int(round(v)) for v in bubble["track"][i])
            t = start + i
            r = int(np.ceil(bubble["radius"]))
            assert not truth[t, y - r: y + r + 1, x - r: x + r + 1].any(), "bubbles are not cells"
            frame = movie[t].astype(float)
            # A bright centre inside a dark rim.
            assert frame[y, x] - frame[y - r: y + r + 1, x - r: x + r + 1].min() > 40


def test_manual_measurements_are_close_to_the_truth(full):
    areas = demo.true_areas(full["truth"])
    text = (full["dir"] / "manual_measurements.csv").read_text()
    assert text.splitlines()[0] == "pool,frame,time_min,area_px"
    experiment = full["experiment"]
    pools = experiment.manifest.extra["demo"]["manual_measurement_pools"]
    assert len(pools) >= 2
    assert set(pools) & set(experiment.manifest.split.train)
    assert set(pools) & set(experiment.manifest.split.validation)
    for pool in pools:
        manual = parse_measurements(full["dir"] / "manual_measurements.csv", n_frames=144, pool=pool)
        assert 30 <= len(manual) < 48  # every 3rd frame, a few skipped
        assert set(np.diff(manual.frames)) <= {3, 6, 9}
        truth = areas[manual.frames, pool]
        error = manual.areas / truth - 1
        assert abs(np.median(error)) < 0.05 and np.abs(error).max() < 0.15
        assert 0 < np.mean(error)  # traced a little outside, as people do
        assert np.corrcoef(manual.areas, truth)[0, 1] > 0.95
        saved = load_saved_measurements(experiment, pool)
        assert np.array_equal(saved.frames, manual.frames) and np.allclose(saved.areas, manual.areas)


def test_ready_experiment_is_cropped_cleaned_split_and_annotated(full):
    experiment = full["experiment"]
    manifest = experiment.manifest
    assert experiment.pool_numbers == list(range(1, 17))
    assert experiment.n_frames() == 144
    assert manifest.split == Split(train=list(range(1, 12)), validation=list(range(12, 17)))
    assert manifest.background.cleaned is True
    assert manifest.frame_interval_s == 600.0
    assert manifest.pixel_size_um == demo.PIXEL_SIZE_UM
    assert manifest.annotation.every == 15
    assert "synthetic" in manifest.notes.lower()
    assert manifest.grid == demo.demo_grid()
    assert manifest.source.path == str((full["dir"] / "plate.tif").resolve())
    frames = list(range(0, 144, 15))
    for entry in manifest.pools:
        pool, box = entry.number, entry.box
        assert experiment.annotated_frames(pool) == frames
        truth = experiment.read_truth(pool)
        assert truth.shape == (144, 256, 256)
        for frame in frames[::3]:
            expected = crop_box(full["truth"][frame], box, size=256, order=0) == pool
            assert np.array_equal(truth[frame], expected)
            # On disk in the lab's polarity: black = cell.
            png = np.asarray(Image.open(experiment.mask_path(pool, frame)))
            assert png.dtype == np.uint8 and set(np.unique(png)) <= {0, 255}
            assert np.array_equal(png == 0, expected)
            assert np.array_equal(experiment.read_mask(pool, frame), expected)
    # The crop is the app's: pool movie frame = plate frame cropped on the exact grid.
    box = manifest.pools[5].box
    raw = experiment.read_pool_movie(6, cleaned=False)
    assert np.array_equal(raw[40], crop_box(np.asarray(full["movie"][40]), box, size=256, order=1))


# -- writing, refusing, replacing ------------------------------------------------------------------
#: SHA-256 of the 20-frame seed-1 demo's plate.tif, as the demo has always drawn it (taken before
#: plate.py was split into scene/render/write). A change here changes every demo: the shipped
#: demo model's numbers and the README's no longer hold. (It pins numpy's and tifffile's output
#: too: a new version of either that changes it needs a look, then a new hash.)
#: Changed on purpose for issue 11: every drawn collapse loses >= 41 % of the area (was 35-55 %),
#: so each is a collapse by the field's >= 50 % volume definition (blasto.review.events).
PLATE_SHA256 = "6c2585e50ec73308ff6a2d9bf4a3d3b943171f69edae8a7eddd44d0afec25bcb"


def test_same_seed_same_demo(tmp_path, short_plate):
    """write_demo draws again from the seed: the very movie and truth of ``short_plate``, and
    byte for byte the plate.tif this seed has always given."""
    experiment = demo.write_demo(tmp_path, seed=1, n_frames=SHORT)
    movie, truth, scene = short_plate
    plate = (tmp_path / "demo-movie" / "plate.tif").read_bytes()
    assert hashlib.sha256(plate).hexdigest() == PLATE_SHA256
    assert json.loads((tmp_path / "demo-movie" / "scene.json").read_text()) == json.loads(
        json.dumps(scene.to_json()))
    assert np.array_equal(tifffile.imread(tmp_path / "demo-movie" / "plate.tif"), movie)
    assert np.array_equal(tifffile.imread(tmp_path / "demo-movie" / "truth.tif"), truth)
    assert list_experiments(root=tmp_path) == ["demo"]
    assert experiment.summary().annotated_frames == 16 * 2  # frames 0 and 15
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo", "demo-movie"]


def test_failed_build_leaves_nothing_behind(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(demo_write, "_fill_experiment", broken)
    with pytest.raises(RuntimeError):
        demo.write_demo(tmp_path, seed=0, n_frames=10)
    assert list(tmp_path.iterdir()) == []


def test_cli_writes_refuses_then_replaces(tmp_path, capsys):
    assert main(["demo", str(tmp_path), "--frames", "10", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "16 pools, 10 frames, 16 annotated frames, 11 train / 5 validation frames" in out
    first = tifffile.imread(tmp_path / "demo-movie" / "plate.tif")

    experiment = Experiment(tmp_path / "demo")
    experiment.delete_mask(1, 0)  # the user's own work: an existing demo is kept
    assert main(["demo", str(tmp_path), "--frames", "10", "--seed", "4"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert Experiment(tmp_path / "demo").annotated_frames(1) == []

    assert main(["demo", str(tmp_path), "--frames", "10", "--seed", "4", "--force"]) == 0
    assert Experiment(tmp_path / "demo").annotated_frames(1) == [0]
    assert not np.array_equal(tifffile.imread(tmp_path / "demo-movie" / "plate.tif"), first)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo", "demo-movie"]

    assert main(["demo", str(tmp_path / "other"), "--frames", "5"]) == 2
    assert "10 to 1000 frames" in capsys.readouterr().err


def test_grid_suggested_on_the_demo_plate_is_its_own(short_plate):
    """Cropping the raw demo movie in the app starts from (nearly) the exact grid."""
    from blasto.prepare.grid import suggest_grid

    movie, _, _ = short_plate
    suggested, exact = suggest_grid(movie[0]), demo.demo_grid()
    for side in ("top", "left", "bottom", "right"):
        assert abs(getattr(suggested, side) - getattr(exact, side)) <= 3, side
