"""Mask overlay drawing and MP4/GIF export that reads back as a movie."""

import imageio.v3 as iio
import numpy as np
import pytest

from blasto.errors import BlastoError
from blasto.review.overlay import (
    burn_labels, frame_labels, gif_bytes, mask_path, mp4_bytes, outline, overlay_frame, overlay_movie,
    parse_colour, sprite_sheet, write_gif, write_mp4,
)


def square_mask(size=16, lo=4, hi=12):
    mask = np.zeros((size, size), bool)
    mask[lo:hi, lo:hi] = True
    return mask


def test_outline_draws_only_the_border_in_the_colour():
    frame = np.full((16, 16), 100, np.uint8)
    rgb = overlay_frame(frame, square_mask(), style="outline", colour="#ff0000", opacity=1.0)
    assert rgb.shape == (16, 16, 3) and rgb.dtype == np.uint8
    assert rgb[4, 4].tolist() == [255, 0, 0]       # border
    assert rgb[8, 8].tolist() == [100, 100, 100]   # inside untouched
    assert rgb[0, 0].tolist() == [100, 100, 100]   # outside untouched
    assert outline(square_mask()).sum() == 8 * 4 - 4


def test_fill_is_translucent_with_the_opacity():
    frame = np.full((16, 16), 100, np.uint8)
    rgb = overlay_frame(frame, square_mask(), style="fill", colour=(0, 0, 200), opacity=0.5)
    assert rgb[8, 8].tolist() == [50, 50, 150]
    assert rgb[0, 0].tolist() == [100, 100, 100]


def test_manual_mask_outline_and_scale():
    frame = np.zeros((16, 16), np.uint8)
    rgb = overlay_frame(frame, None, manual=square_mask(), manual_colour="#00ff00", scale=3)
    assert rgb.shape == (48, 48, 3)
    assert rgb[12, 12].tolist() == [0, 255, 0]
    assert rgb[24, 24].tolist() == [0, 0, 0]


def test_bad_style_or_colour_is_refused():
    with pytest.raises(BlastoError, match="style"):
        overlay_frame(np.zeros((4, 4), np.uint8), square_mask(4, 1, 3), style="glow")
    with pytest.raises(BlastoError, match="not an #rrggbb colour"):
        parse_colour("#zz0000")


def moving_square_movie(frames=12, size=31):
    movie = np.full((frames, size, size), 60, np.uint8)
    masks = np.zeros((frames, size, size), bool)
    for t in range(frames):
        masks[t, 5 + t:15 + t, 8:20] = True
        movie[t][masks[t]] = 200
    return movie, masks


def test_mp4_export_is_a_playable_movie(tmp_path):
    movie, masks = moving_square_movie()
    rgb = overlay_movie(movie, masks, manual={3: masks[3]}, style="fill", opacity=0.5)
    path = write_mp4(tmp_path / "overlay.mp4", rgb, fps=6)
    back = iio.imread(path, extension=".mp4")
    # Odd sizes are padded to even ones (H.264 with yuv420p needs them).
    assert back.shape == (12, 32, 32, 3)
    # The content survives compression: the bright square moves down frame by frame.
    bright = back.mean(axis=-1) > 110
    rows = np.arange(32)[None, :, None]
    centre_rows = (bright * rows).sum(axis=(1, 2)) / bright.sum(axis=(1, 2))
    expected = np.arange(12) + 9.5  # rows 5+t .. 14+t
    assert np.abs(centre_rows - expected).max() < 1.0
    assert mp4_bytes(rgb)[4:8] == b"ftyp"
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_gif_export_reads_back_with_every_frame(tmp_path):
    movie, masks = moving_square_movie(frames=5, size=20)
    rgb = overlay_movie(movie, masks, colour="#00ff00", opacity=1.0)
    data = gif_bytes(rgb, fps=5)
    assert data[:6] == b"GIF89a"
    back = iio.imread(data, extension=".gif")
    assert back.shape[:3] == (5, 20, 20)
    path = write_gif(tmp_path / "overlay.gif", rgb)
    assert path.read_bytes()[:6] == b"GIF89a"


def test_empty_movie_is_refused(tmp_path):
    with pytest.raises(BlastoError, match="No frames"):
        write_mp4(tmp_path / "x.mp4", np.zeros((0, 4, 4, 3), np.uint8))


def test_hand_and_model_outlines_both_show_where_they_agree():
    frame = np.zeros((16, 16), np.uint8)
    rgb = overlay_frame(frame, square_mask(), manual=square_mask(), colour="#ff0000", opacity=1.0,
                        manual_colour="#00ff00")
    assert rgb[4, 4].tolist() == [0, 255, 0]   # hand: inside its mask
    assert rgb[3, 6].tolist() == [255, 0, 0]   # model: just outside its mask
    assert (rgb == [255, 0, 0]).all(axis=-1).sum() > 0 and (rgb == [0, 255, 0]).all(axis=-1).sum() > 0


def test_frame_number_and_time_are_burned_into_the_exports(tmp_path):
    movie, masks = moving_square_movie(frames=4, size=64)
    labels = frame_labels(4, frame_interval_s=600)
    assert labels[3] == "frame 3 · 0:30 h"
    plain = overlay_movie(movie, masks)
    labelled = overlay_movie(movie, masks, labels=labels)
    corner = (slice(0, 14), slice(0, 40))
    assert (labelled[0][corner] != plain[0][corner]).any()                       # text in the corner
    assert (labelled[0][corner] != labelled[3][corner]).any()                    # a different number
    assert (labelled[:, 40:, 40:] == plain[:, 40:, 40:]).all()                   # the rest untouched
    back = iio.imread(write_mp4(tmp_path / "l.mp4", labelled, fps=4), extension=".mp4")
    # White text survives H.264 (the pool and the red outline have no white pixels).
    def white(image):
        return int((image.min(axis=-1) > 200).sum())
    assert white(back[0][corner]) > 10 and white(plain[0][corner]) == 0
    assert len(iio.imread(gif_bytes(labelled), extension=".gif")) == 4
    with pytest.raises(BlastoError, match="one label per frame"):
        burn_labels(plain, labels[:2])


def test_sprite_sheet_and_mask_paths_for_the_player():
    from PIL import Image
    import io

    movie = np.stack([np.full((8, 10), 20 * t, np.uint8) for t in range(7)])
    sheet = sprite_sheet(movie)
    assert (sheet.count, sheet.columns, sheet.width, sheet.height) == (7, 3, 10, 8)
    image = np.asarray(Image.open(io.BytesIO(sheet.data)))
    assert image.shape == (3 * 8, 3 * 10)
    assert abs(int(image[8 + 4, 10 + 5]) - 80) <= 3          # frame 4: row 1, column 1
    ring = np.zeros((20, 20), bool)
    ring[4:16, 4:16] = True
    ring[8:12, 8:12] = False
    path = mask_path(ring)
    assert path.count("M") == 2 and path.endswith("Z")      # the outline and the hole
    assert mask_path(np.zeros((5, 5), bool)) == ""
