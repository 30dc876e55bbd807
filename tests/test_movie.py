"""Movie input: every reader, every bad-input case (made here, small), and flat streaming."""

import tracemalloc

import imageio.v2 as imageio
import numpy as np
import pytest
import tifffile
from PIL import Image

from blasto.errors import BlastoError, MovieError
from blasto.movies import natural_key, open_movie, read_movie, sample_indices, to_gray

T, H, W = 6, 24, 32


@pytest.fixture
def frames():
    """Six distinct 8-bit frames: a gradient that shifts, so every frame differs."""
    yy, xx = np.mgrid[:H, :W]
    return np.stack([((xx * 6 + yy * 2 + 30 * t) % 256).astype(np.uint8) for t in range(T)])


def video_frames():
    """Smooth frames that survive lossy video coding: flat gray levels that step per frame."""
    return np.stack([np.full((32, 48), 40 + 30 * t, np.uint8) for t in range(T)])


# -- readers ------------------------------------------------------------------------------------
def test_tiff_8bit_imagej_with_interval(tmp_path, frames):
    path = tmp_path / "plate.tif"
    tifffile.imwrite(path, frames, imagej=True, metadata={"axes": "TYX", "finterval": 10, "tunit": "min"})
    with open_movie(path) as movie:
        assert (movie.n_frames, movie.height, movie.width) == (T, H, W)
        assert movie.frame_interval_s == 600.0
        assert movie.format == "tiff"
        assert np.array_equal(movie.frame(4), frames[4])
        assert np.array_equal(movie.frame(1), frames[1])  # random access, backwards
        assert np.array_equal(np.stack(list(movie)), frames)
        with pytest.raises(IndexError):
            movie.frame(T)
    assert np.array_equal(read_movie(path), frames)


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_tiff_16bit_mapped_by_robust_percentiles(tmp_path, compression):
    rng = np.random.default_rng(1)
    wide = rng.integers(1000, 3000, (T, H, W)).astype(np.uint16)
    wide[2, 0, 0] = 65000  # one hot pixel must not squash the range
    path = tmp_path / "wide.tif"
    tifffile.imwrite(path, wide, compression=compression)
    with open_movie(path) as movie:
        assert movie.frame_interval_s is None
        movie_frames = read_movie(path)
    assert movie_frames.dtype == np.uint8
    assert movie_frames.min() == 0 and movie_frames.max() == 255
    # Monotone, one mapping for every frame, and the bulk of the range is used.
    order = np.argsort(wide.ravel(), kind="stable")
    assert np.all(np.diff(movie_frames.ravel()[order].astype(int)) >= 0)
    assert np.percentile(movie_frames, 90) - np.percentile(movie_frames, 10) > 150


def test_tiff_pixel_size_written_like_the_demo(tmp_path, frames):
    # The demo's plate.tif: ImageJ unit um, 1 / 1.5 pixels per um (stored as the rational 2/3).
    path = tmp_path / "plate.tif"
    tifffile.imwrite(path, frames, imagej=True, resolution=(1 / 1.5, 1 / 1.5),
                     metadata={"axes": "TYX", "finterval": 600.0, "tunit": "s", "unit": "um"})
    with open_movie(path) as movie:
        assert movie.pixel_size_um == 1.5
        assert movie.frame_interval_s == 600.0


@pytest.mark.parametrize("unit, per_unit, expected", [
    ("micron", 2.0, 0.5), ("\\u00B5m", 1 / 0.65, 0.65), ("nm", 1 / 650, 0.65), ("mm", 1 / 0.002, 2.0),
])
def test_tiff_pixel_size_in_other_units(tmp_path, frames, unit, per_unit, expected):
    path = tmp_path / "plate.tif"
    tifffile.imwrite(path, frames, imagej=True, resolution=(per_unit, per_unit),
                     metadata={"axes": "TYX", "unit": unit})
    with open_movie(path) as movie:
        assert movie.pixel_size_um == pytest.approx(expected, rel=1e-6)


def test_tiff_pixel_size_not_square_keeps_the_area(tmp_path, frames):
    path = tmp_path / "plate.tif"
    tifffile.imwrite(path, frames, imagej=True, resolution=(1.0, 0.25), metadata={"unit": "um"})
    with open_movie(path) as movie:
        assert movie.pixel_size_um == pytest.approx(2.0)  # 1 um x 4 um: 4 um^2 a pixel


def test_no_pixel_size_unless_the_file_says(tmp_path, frames):
    # No resolution; a resolution in inches (any image editor's 72 dpi); ImageJ without a unit.
    plain, dpi, unitless = (tmp_path / f"{name}.tif" for name in ("plain", "dpi", "unitless"))
    tifffile.imwrite(plain, frames)
    tifffile.imwrite(dpi, frames, resolution=(72.0, 72.0), resolutionunit="INCH")
    tifffile.imwrite(unitless, frames, imagej=True, resolution=(0.5, 0.5), metadata={"axes": "TYX"})
    gif = tmp_path / "plate.gif"
    images = [Image.fromarray(f) for f in frames]
    images[0].save(gif, save_all=True, append_images=images[1:], duration=250)
    for path in (plain, dpi, unitless, gif):
        with open_movie(path) as movie:
            assert movie.pixel_size_um is None, path


def test_tiff_frames_written_one_by_one_or_by_pillow(tmp_path, frames):
    separate = tmp_path / "separate.tif"
    with tifffile.TiffWriter(separate) as writer:  # one series per frame
        for frame in frames:
            writer.write(frame)
    assert np.array_equal(read_movie(separate), frames)
    pillow = tmp_path / "pillow.tif"
    images = [Image.fromarray(f) for f in frames]
    images[0].save(pillow, save_all=True, append_images=images[1:])
    assert np.array_equal(read_movie(pillow), frames)


def test_tiff_rgb_becomes_gray(tmp_path, frames):
    rgb = np.stack([frames, frames // 2, np.zeros_like(frames)], axis=-1)
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, rgb, photometric="rgb")
    expected = np.rint(0.299 * frames + 0.587 * (frames // 2)).astype(np.uint8)
    assert np.abs(read_movie(path).astype(int) - expected).max() <= 1


def test_animated_gif_gray_and_rgb(tmp_path, frames):
    path = tmp_path / "plate.gif"
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=250, loop=0)
    with open_movie(path) as movie:
        assert (movie.n_frames, movie.height, movie.width, movie.format) == (T, H, W, "gif")
        assert movie.frame_interval_s == 0.25
        assert np.array_equal(movie.frame(5), frames[5])
        assert np.array_equal(movie.frame(2), frames[2])  # seek backwards
    assert np.array_equal(read_movie(path), frames)

    colour = tmp_path / "colour.gif"
    red = [Image.fromarray(np.stack([f, np.zeros_like(f), np.zeros_like(f)], -1)) for f in frames[:2]]
    red[0].save(colour, save_all=True, append_images=red[1:], duration=100)
    gray = read_movie(colour)
    assert gray.shape == (2, H, W)
    assert abs(gray.mean() - 0.299 * frames[:2].mean()) < 8  # luma of red, up to the palette


@pytest.mark.parametrize("suffix, codec", [(".mp4", "libx264"), (".avi", "mjpeg")])
def test_videos(tmp_path, suffix, codec):
    expected = video_frames()
    path = tmp_path / f"plate{suffix}"
    with imageio.get_writer(path, fps=4, codec=codec, quality=9, macro_block_size=16) as writer:
        for frame in expected:
            writer.append_data(np.stack([frame] * 3, axis=-1))
    with open_movie(path) as movie:
        assert (movie.n_frames, movie.height, movie.width, movie.format) == (T, 32, 48, "video")
        assert movie.frame_interval_s == pytest.approx(0.25)
        assert abs(movie.frame(4).mean() - expected[4].mean()) < 4
        assert abs(movie.frame(1).mean() - expected[1].mean()) < 4  # backwards: reopens
        means = [f.mean() for f in movie]
    assert np.allclose(means, expected.mean(axis=(1, 2)), atol=4)


def test_folder_of_numbered_frames_in_natural_order(tmp_path, frames):
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, frame in enumerate(frames):  # frame2 must come before frame10
        Image.fromarray(frame).save(folder / f"frame{index * 4}.png")
    (folder / "notes.txt").write_text("not a frame")
    with open_movie(folder) as movie:
        assert (movie.n_frames, movie.height, movie.width, movie.format) == (T, H, W, "folder")
        assert movie.frame_interval_s is None
    assert np.array_equal(read_movie(folder), frames)


def test_folder_of_16bit_tif_and_rgb_jpg_frames(tmp_path, frames):
    wide = tmp_path / "wide"
    wide.mkdir()
    for index, frame in enumerate(frames):
        tifffile.imwrite(wide / f"t{index:03d}.tif", frame.astype(np.uint16) * 100)
    out = read_movie(wide)
    assert out.dtype == np.uint8 and out.max() == 255 and out.min() == 0
    jpg = tmp_path / "jpg"
    jpg.mkdir()
    for index in range(2):
        Image.fromarray(np.full((H, W, 3), (200, 100, 0), np.uint8)).save(jpg / f"{index}.jpg")
    assert abs(read_movie(jpg).mean() - (0.299 * 200 + 0.587 * 100)) < 3


def test_helpers():
    assert sorted(["a10", "a9", "b1"], key=natural_key) == ["a9", "a10", "b1"]
    assert to_gray(np.zeros((2, 3))).shape == (2, 3)
    assert sample_indices(100, 4) == [0, 33, 66, 99]
    assert sample_indices(3, 8) == [0, 1, 2] and sample_indices(1) == [0]


def test_a_used_video_reads_again_from_frame_0(tmp_path):
    # crop_plate streams a movie its caller has already read from (the CLI reads frame 0 to
    # suggest a grid): a second pass must start at frame 0 and give the same frames.
    path = tmp_path / "plate.mp4"
    with imageio.get_writer(path, fps=4, codec="libx264", quality=9, macro_block_size=16) as writer:
        for frame in video_frames():
            writer.append_data(frame)
    with open_movie(path) as movie:
        first = movie.frame(0)
        movie.frame(T - 1)
        again = list(movie)
        assert len(again) == T and np.array_equal(again[0], first)
        assert np.array_equal(np.stack(list(movie)), np.stack(again))  # a used-up stream too


# -- bad input -----------------------------------------------------------------------------------
def assert_refused(path, *match):
    with pytest.raises(MovieError) as info:
        read_movie(path)
    message = str(info.value)
    assert str(path) in message, message  # names the file (or the folder)
    for text in match:
        assert text in message, message
    assert isinstance(info.value, BlastoError)


def test_missing_file(tmp_path):
    assert_refused(tmp_path / "nowhere.gif", "no such file")


def test_not_a_movie(tmp_path):
    text = tmp_path / "notes.gif"
    text.write_text("these are my notes, not a movie")
    assert_refused(text, "not a movie")
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    assert_refused(empty, "empty")
    image = tmp_path / "one.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(image)
    assert_refused(image, "single image")
    fake_video = tmp_path / "fake.mp4"
    fake_video.write_bytes(b"\x00" * 64)
    assert_refused(fake_video, "not a readable video")


def test_truncated_or_corrupt(tmp_path, frames):
    gif = tmp_path / "cut.gif"
    images = [Image.fromarray(f) for f in frames]
    images[0].save(gif, save_all=True, append_images=images[1:], duration=100)
    gif.write_bytes(gif.read_bytes()[: gif.stat().st_size // 2])
    assert_refused(gif, "truncated")

    for name, options in (("flat.tif", {"imagej": True}), ("packed.tif", {"compression": "zlib"}),
                          ("plain.tif", {})):
        tif = tmp_path / name
        tifffile.imwrite(tif, frames, **options)
        tif.write_bytes(tif.read_bytes()[: tif.stat().st_size * 2 // 3])
        assert_refused(tif, "truncated")

    header_only = tmp_path / "header.tif"
    header_only.write_bytes(b"II*\x00" + b"\xff" * 12)
    assert_refused(header_only, "corrupt")

    video = tmp_path / "cut.mp4"
    with imageio.get_writer(video, fps=4, codec="libx264", macro_block_size=16) as writer:
        for frame in video_frames():
            writer.append_data(frame)
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    assert_refused(video, "truncated or corrupt")


def test_zero_frames(tmp_path):
    path = tmp_path / "zero.tif"
    with pytest.warns(UserWarning):  # tifffile warns about writing nothing
        tifffile.imwrite(path, np.zeros((0, 8, 8), np.uint8))
    assert_refused(path, "zero frames")


def test_frames_of_different_sizes(tmp_path):
    tif = tmp_path / "mixed.tif"
    with tifffile.TiffWriter(tif) as writer:
        writer.write(np.zeros((20, 30), np.uint8))
        writer.write(np.zeros((21, 30), np.uint8))
    assert_refused(tif, "different sizes")
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(folder / "1.png")
    Image.fromarray(np.zeros((20, 31), np.uint8)).save(folder / "2.png")
    assert_refused(folder, "different sizes", "31x20")


def test_folder_without_frames_or_with_a_broken_frame(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_refused(empty, "no frames")
    (empty / "readme.txt").write_text("hi")
    assert_refused(empty, "no frames")
    broken = tmp_path / "broken"
    broken.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(broken / "1.png")
    (broken / "2.png").write_bytes(b"not a png at all")
    assert_refused(broken, "2.png", "not a readable image")


def test_a_refused_tiff_is_closed(tmp_path, frames, monkeypatch):
    # Every check that refuses an opened TIFF closes it first (no file handle left behind).
    opened = []
    real_init = tifffile.TiffFile.__init__

    def spy(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(tifffile.TiffFile, "__init__", spy)
    cut = tmp_path / "cut.tif"
    tifffile.imwrite(cut, frames)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size * 2 // 3])
    mixed = tmp_path / "mixed.tif"
    with tifffile.TiffWriter(mixed) as writer:
        writer.write(np.zeros((20, 30), np.uint8))
        writer.write(np.zeros((21, 30), np.uint8))
    for path, match in ((cut, "truncated"), (mixed, "different sizes")):
        opened.clear()
        assert_refused(path, match)
        assert opened and all(tif.filehandle.closed for tif in opened), path


# -- streaming memory ---------------------------------------------------------------------------
def test_streaming_a_long_tiff_keeps_memory_flat(tmp_path):
    n_frames, side = 400, 256  # 26 MB of movie, written and read one frame at a time

    def generate():
        for index in range(n_frames):
            yield np.full((side, side), index % 256, np.uint8)

    path = tmp_path / "long.tif"
    tifffile.imwrite(path, generate(), shape=(n_frames, side, side), dtype=np.uint8)
    tracemalloc.start()
    try:
        with open_movie(path) as movie:
            tracemalloc.reset_peak()
            for index, frame in enumerate(movie):
                assert frame[0, 0] == index % 256
            _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert index == n_frames - 1
    assert peak < 8 * side * side, f"peak {peak} bytes while streaming"  # a few frames, not 400
