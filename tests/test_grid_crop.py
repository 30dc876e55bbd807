"""Grid suggestion and cropping on a small synthetic plate whose pool centres are known."""

import numpy as np
import pytest
import tifffile

from blasto.prepare.crop import crop_box, crop_plate
from blasto.prepare.split import default_split
from blasto.errors import BlastoError, ExperimentError, MovieError
from blasto.store.experiment import create_experiment
from blasto.prepare.grid import parse_grid, suggest_grid
from blasto.store.manifest import Grid, Pool, Split

# A 4x4 plate: pools of radius 14 on a 40-pixel pitch, the grid's outer bounds at (12, 20).
PITCH, RADIUS, TOP, LEFT = 40, 14, 12, 20
TRUE_GRID = Grid(rows=4, cols=4, top=TOP, left=LEFT, bottom=TOP + 4 * PITCH, right=LEFT + 4 * PITCH)


def pool_centres(rows=4, cols=4):
    """(y, x) centre of each pool, pool 1 first, row by row."""
    return [(TOP + PITCH * (r + 0.5), LEFT + PITCH * (c + 0.5)) for r in range(rows) for c in range(cols)]


def make_plate(n_frames=3, *, height=190, width=200, seed=0, marker=True):
    """(T, H, W) uint8: dark plate, bright round pools, a dark 'cell' in each pool.

    With ``marker``, frame t has a bright dot at the centre of pool ``t % 16 + 1`` so tests can
    tell frames and pools apart after cropping.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width]
    frames = np.empty((n_frames, height, width), np.uint8)
    for t in range(n_frames):
        image = np.full((height, width), 25.0)
        for number, (cy, cx) in enumerate(pool_centres(), start=1):
            distance = np.hypot(yy - cy, xx - cx)
            image[distance <= RADIUS] = 170
            image[distance <= 5] = 90  # a cell: darker than its pool
            if marker and number == t % 16 + 1:
                image[distance <= 2] = 250
        image += rng.normal(0, 3, image.shape)
        frames[t] = np.clip(image, 0, 255).astype(np.uint8)
    return frames


def write_plate(path, frames, *, interval=600.0, pixel_size_um=None):
    """An ImageJ stack with its frame interval and, if given, its pixel size (as the demo's)."""
    if pixel_size_um is None:
        tifffile.imwrite(path, frames, imagej=True, metadata={"axes": "TYX", "finterval": interval})
    else:
        tifffile.imwrite(path, frames, imagej=True, resolution=(1 / pixel_size_um, 1 / pixel_size_um),
                         metadata={"axes": "TYX", "finterval": interval, "unit": "um"})
    return path


def test_grid_boxes_cover_the_bounds_row_by_row():
    boxes = TRUE_GRID.boxes()
    assert len(boxes) == 16
    assert boxes[0] == (TOP, LEFT, TOP + PITCH, LEFT + PITCH)
    assert boxes[1][1] == LEFT + PITCH  # pool 2 is right of pool 1 (row by row)
    assert boxes[4][0] == TOP + PITCH  # pool 5 starts the second row
    assert boxes[-1] == (TOP + 3 * PITCH, LEFT + 3 * PITCH, TRUE_GRID.bottom, TRUE_GRID.right)
    assert Grid.from_dict(TRUE_GRID.to_dict()) == TRUE_GRID


def test_suggested_grid_is_within_a_few_pixels_and_each_centre_in_its_box():
    frame = make_plate(1)[0]
    grid = suggest_grid(frame, rows=4, cols=4)
    for name in ("top", "left", "bottom", "right"):
        assert abs(getattr(grid, name) - getattr(TRUE_GRID, name)) <= 3, (name, grid)
    for (cy, cx), (top, left, bottom, right) in zip(pool_centres(), grid.boxes()):
        assert top <= cy < bottom and left <= cx < right
        # and near the middle of the box: the box is centred on its pool
        assert abs((top + bottom) / 2 - cy) <= 3 and abs((left + right) / 2 - cx) <= 3


def test_suggested_grid_on_a_large_frame():
    # Three times larger (570x600): the suggestion works on a reduced copy, scaled back.
    frame = make_plate(1)[0].repeat(3, axis=0).repeat(3, axis=1)
    grid = suggest_grid(frame)
    for name in ("top", "left", "bottom", "right"):
        assert abs(getattr(grid, name) - 3 * getattr(TRUE_GRID, name)) <= 4, (name, grid)


def test_suggest_grid_other_layouts_and_flat_frames():
    frame = make_plate(1)[0]
    two_by_four = suggest_grid(frame[: TOP + 2 * PITCH + 5], rows=2, cols=4)
    assert abs(two_by_four.bottom - (TOP + 2 * PITCH)) <= 3
    flat = suggest_grid(np.zeros((50, 60), np.uint8))
    assert (flat.top, flat.left, flat.bottom, flat.right) == (0, 0, 50, 60)


def test_grid_checks_and_parsing():
    with pytest.raises(BlastoError, match="outside"):
        TRUE_GRID.check(height=100, width=300)
    with pytest.raises(BlastoError, match="too small"):
        Grid(4, 4, 0, 0, 20, 20).check(height=100, width=100)
    assert parse_grid("12,20,172,180", rows=4, cols=4) == TRUE_GRID
    with pytest.raises(BlastoError, match="four numbers"):
        parse_grid("12,20,abc", rows=4, cols=4)
    with pytest.raises(BlastoError, match="below top"):
        parse_grid("100,20,12,180", rows=4, cols=4)


def test_crop_box_orders_share_geometry():
    frame = np.zeros((60, 80), np.uint8)
    frame[20:30, 40:50] = 200
    labels = (frame > 0).astype(np.uint8) * 3
    image = crop_box(frame, (10, 20, 60, 80), size=32, order=1)
    label = crop_box(labels, (10, 20, 60, 80), size=32, order=0)
    assert image.shape == label.shape == (32, 32)
    assert image.dtype == np.uint8 and set(np.unique(label)) == {0, 3}  # nearest: no new values
    yi, xi = np.nonzero(image > 100)
    yl, xl = np.nonzero(label)
    assert abs(yi.mean() - yl.mean()) < 0.6 and abs(xi.mean() - xl.mean()) < 0.6
    assert crop_box(frame > 0, (10, 20, 60, 80), size=32, order=1).dtype == bool
    with pytest.raises(BlastoError, match="does not fit"):
        crop_box(frame, (0, 0, 61, 10), size=8)


def test_default_split_is_by_pool():
    assert default_split(list(range(1, 17))).validation == [12, 13, 14, 15, 16]
    assert default_split([1, 2, 3, 4]) == Split(train=[1, 2, 3], validation=[4])
    assert default_split([1]) == Split(train=[1], validation=[])


def test_crop_plate_writes_pool_movies_and_manifest(roots, tmp_path):
    frames = make_plate(20)
    movie = write_plate(tmp_path / "plate.tif", frames)
    experiment = create_experiment("plate")
    calls = []
    crop_plate(movie, experiment, grid=TRUE_GRID, size=32, progress=lambda d, t: calls.append((d, t)))

    assert calls[-1] == (20, 20) and len(calls) == 20
    assert experiment.pool_numbers == list(range(1, 17))
    for number, (cy, cx) in enumerate(pool_centres(), start=1):
        pool = experiment.read_pool_movie(number)
        assert pool.shape == (20, 32, 32) and pool.dtype == np.uint8
        # the pool's marker (a bright centre dot) shows in its own frames only, at the centre
        own = [t for t in range(20) if t % 16 + 1 == number]
        centre = pool[:, 14:18, 14:18].max(axis=(1, 2))
        assert all(centre[t] > 200 for t in own)
        assert all(centre[t] < 200 for t in range(20) if t not in own)
        # the corners are the dark plate
        assert pool[:, 0, 0].max() < 60
    manifest = experiment.manifest
    assert manifest.source.n_frames == 20
    assert (manifest.source.height, manifest.source.width) == frames.shape[1:]
    assert manifest.source.frame_interval_s == manifest.frame_interval_s == 600.0
    assert manifest.grid == TRUE_GRID and manifest.size == 32
    assert manifest.pools[5] == Pool(6, TRUE_GRID.boxes()[5])
    assert manifest.split.train == list(range(1, 12))
    assert manifest.source_pixels_per_working_pixel(1) == pytest.approx((40 / 32) ** 2)
    # the manifest on disk says the same
    from blasto.store.experiment import open_experiment

    assert open_experiment("plate").manifest.pools == manifest.pools


def test_crop_plate_stores_the_pixel_size_the_movie_says_unless_given(roots, tmp_path):
    frames = make_plate(2)
    sized = write_plate(tmp_path / "sized.tif", frames, pixel_size_um=1.5)
    plain = write_plate(tmp_path / "plain.tif", frames)
    experiment = create_experiment("plate")
    crop_plate(sized, experiment, grid=TRUE_GRID, size=16)
    assert experiment.manifest.source.pixel_size_um == experiment.manifest.pixel_size_um == 1.5
    crop_plate(sized, experiment, grid=TRUE_GRID, size=16, pixel_size_um=2.0)  # given wins
    assert (experiment.manifest.source.pixel_size_um, experiment.manifest.pixel_size_um) == (1.5, 2.0)
    crop_plate(sized, experiment, grid=TRUE_GRID, size=16, pixel_size_um=0)  # 0: not given
    assert experiment.manifest.pixel_size_um == 1.5

    other = create_experiment("other")
    crop_plate(plain, other, grid=TRUE_GRID, size=16)
    assert other.manifest.source.pixel_size_um is None
    assert other.manifest.pixel_size_um is None
    other.manifest.pixel_size_um = 0.8  # the user's, set by hand: a movie that says nothing keeps it
    crop_plate(plain, other, grid=TRUE_GRID, size=16)
    assert other.manifest.pixel_size_um == 0.8
    with pytest.raises(BlastoError, match="Pixel size -1"):
        crop_plate(plain, other, grid=TRUE_GRID, size=16, pixel_size_um=-1)


def test_recrop_refuses_when_masks_exist_unless_overwrite(roots, tmp_path):
    movie = write_plate(tmp_path / "plate.tif", make_plate(4))
    experiment = create_experiment("plate")
    crop_plate(movie, experiment, grid=TRUE_GRID, size=16)
    experiment.write_mask(3, 2, np.eye(16, dtype=bool))
    before = experiment.read_pool_movie(3).copy()

    with pytest.raises(ExperimentError, match="hand masks in pools 3"):
        crop_plate(movie, experiment, grid=TRUE_GRID, size=24)
    assert experiment.read_mask(3, 2) is not None
    assert np.array_equal(experiment.read_pool_movie(3), before)

    smaller = Grid(2, 2, TOP, LEFT, TOP + 2 * PITCH, LEFT + 2 * PITCH)
    crop_plate(movie, experiment, grid=smaller, size=16, overwrite=True)
    assert experiment.read_mask(3, 2) is None
    assert experiment.pool_numbers == [1, 2, 3, 4]
    assert not experiment.pool_dir(5).exists()


def test_bad_movie_or_grid_writes_nothing(roots, tmp_path):
    experiment = create_experiment("plate")
    bad = tmp_path / "plate.tif"
    bad.write_bytes(b"II*\x00" + b"\x00" * 20)
    with pytest.raises(MovieError, match="plate.tif"):
        crop_plate(bad, experiment, grid=TRUE_GRID, size=16)
    movie = write_plate(tmp_path / "good.tif", make_plate(2))
    with pytest.raises(BlastoError, match="outside"):
        crop_plate(movie, experiment, grid=Grid(4, 4, 0, 0, 500, 500), size=16)
    assert not (experiment.path / "pools").exists() or not any((experiment.path / "pools").iterdir())
    assert experiment.manifest.pools == []


def test_crop_plate_from_the_labs_gif(roots, tmp_path):
    from PIL import Image

    frames = make_plate(3)
    gif = tmp_path / "plate.gif"
    images = [Image.fromarray(f) for f in frames]
    images[0].save(gif, save_all=True, append_images=images[1:], duration=500)
    experiment = create_experiment("from-gif")
    crop_plate(gif, experiment, grid=suggest_grid(frames[0]), size=32)
    assert experiment.manifest.frame_interval_s == 0.5
    pool = experiment.read_pool_movie(2)
    assert pool.shape == (3, 32, 32) and pool[1, 14:18, 14:18].max() > 200  # pool 2's marker


@pytest.mark.parametrize("suffix", [".tif", ".mp4"])
def test_crop_plate_from_an_open_movie_matches_the_path(roots, tmp_path, suffix):
    # The CLI hands crop_plate the movie it already opened (and read frame 0 of, to suggest a
    # grid): the pool movies must be those cropped from the path, and the movie stays open.
    import imageio.v2 as imageio

    from blasto.movies import open_movie

    frames = make_plate(5)
    path = tmp_path / f"plate{suffix}"
    if suffix == ".tif":
        write_plate(path, frames)
    else:
        with imageio.get_writer(path, fps=2, codec="libx264", quality=9, macro_block_size=1) as writer:
            for frame in frames:
                writer.append_data(frame)
    from_path = create_experiment("from-path")
    crop_plate(path, from_path, grid=TRUE_GRID, size=16)
    from_open = create_experiment("from-open")
    calls = []
    with open_movie(path) as movie:
        movie.frame(0)
        movie.frame(3)
        crop_plate(movie, from_open, grid=TRUE_GRID, size=16, progress=lambda d, t: calls.append((d, t)))
        assert movie.frame(1).shape == frames.shape[1:]  # still open: the caller closes it
    assert calls == [(t, 5) for t in range(1, 6)]
    assert from_open.manifest.source == from_path.manifest.source
    for number in (1, 6, 16):
        assert np.array_equal(from_open.read_pool_movie(number), from_path.read_pool_movie(number))
