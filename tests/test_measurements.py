"""Manual measurements: every accepted layout, every refusal, agreement figures."""

import io

import numpy as np
import pandas as pd
import pytest

from blasto.errors import MeasurementError
from blasto.store.experiment import create_experiment
from synthetic import set_pools
from blasto.review.agreement import agreement, mask_agreement, normalise
from blasto.review.measurements import (
    Measurements, load_saved_measurements, measurements_for_pool, parse_measurements, save_measurements,
    save_upload,
)


def parse(text, *, n_frames=144, name="m.csv", **options):
    data = text.encode() if isinstance(text, str) else text
    return parse_measurements(data, n_frames=n_frames, name=name, **options)


def xlsx_bytes(frame: pd.DataFrame, **options) -> bytes:
    buffer = io.BytesIO()
    frame.to_excel(buffer, index=False, engine="openpyxl", **options)
    return buffer.getvalue()


# -- accepted layouts -------------------------------------------------------------------------
def test_frame_and_area_columns_sparse_frames_sorted():
    m = parse("frame,area_px\n30,125\n0,100\n15,150\n")
    assert m.frames.tolist() == [0, 15, 30]
    assert m.areas.tolist() == [100.0, 150.0, 125.0]
    assert m.column == "area_px"


def test_a_single_column_of_areas_is_consecutive_frames():
    m = parse("Area\n5\n6\n7\n")
    assert m.frames.tolist() == [0, 1, 2]
    headerless = parse("5\n6\n7\n")
    assert headerless.frames.tolist() == [0, 1, 2] and headerless.areas.tolist() == [5.0, 6.0, 7.0]


def test_headerless_two_columns_are_frame_and_area():
    m = parse("0;10,5\n3;11\n".replace(",", "."))  # semicolon-separated
    assert m.frames.tolist() == [0, 3] and m.areas.tolist() == [10.5, 11.0]


def test_times_become_frames_with_the_frame_interval():
    m = parse("time_min,area\n0,1\n10,2\n30,4\n", frame_interval_s=600)
    assert m.frames.tolist() == [0, 1, 3]
    hours = parse("Time (h),Area (um2)\n0,1\n1,2\n", frame_interval_s=600)
    assert hours.frames.tolist() == [0, 6]


def test_empty_area_cells_are_unmeasured_frames():
    m = parse("frame,area\n0,1\n1,\n2,3\n")
    assert m.frames.tolist() == [0, 2]


def test_pool_column_selects_the_pool_like_the_demo_file():
    text = "pool,frame,time_min,area_px\n3,0,0,100\n3,3,30,110\n14,0,0,900\n"
    m = parse(text, pool=14)
    assert m.frames.tolist() == [0] and m.areas.tolist() == [900.0]
    with pytest.raises(MeasurementError, match="no rows for pool 5"):
        parse(text, pool=5)
    with pytest.raises(MeasurementError, match="holds pools \\[3, 14\\]; choose one"):
        parse(text)


def test_xlsx_workbook():
    data = xlsx_bytes(pd.DataFrame({"Frame": [0, 15, 30], "Area (px)": [100.5, 120, 90]}))
    m = parse(data, name="lab.xlsx")
    assert m.frames.tolist() == [0, 15, 30] and m.areas.tolist() == [100.5, 120.0, 90.0]


def test_an_uploaded_file_object_works():
    class Upload(io.BytesIO):
        name = "upload.csv"

    m = parse_measurements(Upload(b"area\n1\n2\n"), n_frames=5)
    assert m.source == "upload.csv" and m.areas.tolist() == [1.0, 2.0]


# -- refusals: each says what is wrong --------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("name,comment\nfoo,bar\nbaz,qux\n", "no column of numbers"),
    ("area\n1\n2\nabc\n4\n", "column 'area', line 4 holds 'abc', which is not a number"),
    ("frame,area\n0,1\nx,2\n", "column 'frame', line 3 holds 'x', which is not a number"),
    ("frame,area\n0,1\n200,2\n", "frame 200, but the movie's frames are 0 to 143"),
    ("frame,area\n0,1\n0,2\n", "frame 0 is measured more than once"),
    ("frame,area\n0,1\n1.5,2\n", "frame number 1.5 is not a whole number"),
    ("frame,area\n0,1\n-1,2\n", "negative frame number"),
    ("frame,area\n0,-5\n", "negative area"),
    ("time_min,area\n0,1\n", "no frame interval"),
    ("", "the file is empty"),
    ("frame,area\n", "no rows of values"),
])
def test_refusals(text, message):
    with pytest.raises(MeasurementError, match=message.replace("(", "\\(").replace(")", "\\)")) as info:
        parse(text)
    assert "m.csv" in str(info.value)


def test_more_rows_than_frames_is_refused():
    text = "area\n" + "\n".join(str(i) for i in range(11)) + "\n"
    with pytest.raises(MeasurementError, match="11 rows of areas but the movie has only 10 frames"):
        parse(text, n_frames=10)


def test_times_off_the_frame_grid_are_refused():
    with pytest.raises(MeasurementError, match="not on a frame"):
        parse("time_min,area\n0,1\n4,2\n", frame_interval_s=600)


def test_binary_and_old_excel_files_are_refused():
    with pytest.raises(MeasurementError, match="not a CSV or XLSX"):
        parse(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", name="image.csv")
    with pytest.raises(MeasurementError, match="old Excel .xls"):
        parse(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", name="lab.xls")
    with pytest.raises(MeasurementError, match="not a readable XLSX"):
        parse(b"PK\x03\x04broken zip", name="lab.xlsx")


def test_missing_file_is_a_measurement_error(tmp_path):
    with pytest.raises(MeasurementError, match="cannot read the file"):
        parse_measurements(tmp_path / "nope.csv", n_frames=10)


# -- agreement -----------------------------------------------------------------------------
def test_normalise_is_min_max():
    assert normalise([10, 20, 15]).tolist() == [0.0, 1.0, 0.5]
    assert normalise([3, 3]).tolist() == [0.0, 0.0]


def test_agreement_figures_and_most_different_frames():
    model = np.array([100, 110, 120, 130, 140, 150, 160, 170, 180, 190], float)
    manual = Measurements(frames=np.array([0, 3, 6, 9]), areas=np.array([10., 13., 20., 19.]))
    result = agreement(model, manual, top=2)
    # Normalised: model at 0,3,6,9 = 0, 1/3, 2/3, 1; manual = 0, 0.3, 1, 0.9.
    assert result.n == 4
    assert result.mae_normalised == pytest.approx((0 + 1 / 30 + 1 / 3 + 0.1) / 4)
    assert result.pearson_r == pytest.approx(np.corrcoef(model[[0, 3, 6, 9]], manual.areas)[0, 1])
    assert result.most_different["frame"].tolist() == [6, 9]
    print(f"agreement: {result.summary()}")


def test_perfect_agreement():
    model = np.array([5.0, 7.0, 6.0, 9.0])
    manual = Measurements(frames=np.arange(4), areas=model * 3 + 2)
    result = agreement(model, manual)
    assert result.pearson_r == pytest.approx(1.0)
    assert result.mae_normalised == pytest.approx(0.0)


def test_saved_measurements_roundtrip_and_dice_per_annotated_frame(roots):
    experiment = create_experiment("m")
    set_pools(experiment, [1], size=16)
    experiment.write_pool_movie(1, np.zeros((4, 16, 16), np.uint8), cleaned=True)
    assert load_saved_measurements(experiment, 1) is None
    save_measurements(experiment, 1, Measurements(frames=np.array([0, 2]), areas=np.array([5.0, 6.0])))
    loaded = load_saved_measurements(experiment, 1)
    assert loaded.frames.tolist() == [0, 2] and loaded.areas.tolist() == [5.0, 6.0]

    truth = np.zeros((16, 16), bool)
    truth[4:8, 4:8] = True
    experiment.write_mask(1, 2, truth)
    predicted = np.zeros((4, 16, 16), bool)
    predicted[2, 4:8, 4:6] = True  # half the cell
    table = mask_agreement(experiment, 1, predicted)
    assert table["frame"].tolist() == [2]
    assert table["dice"].iloc[0] == pytest.approx(2 * 8 / (16 + 8))
    assert table["iou"].iloc[0] == pytest.approx(0.5)


def test_saved_measurements_follow_the_pool_and_an_upload_applies_to_the_pools_it_names(roots):
    experiment = create_experiment("follow")
    set_pools(experiment, [1, 2, 3], size=16)
    for pool in (1, 2, 3):
        experiment.write_pool_movie(pool, np.zeros((4, 16, 16), np.uint8), cleaned=True)
    save_measurements(experiment, 1, Measurements(frames=np.array([0, 1]), areas=np.array([5.0, 6.0])))
    save_measurements(experiment, 3, Measurements(frames=np.array([2]), areas=np.array([9.0])))
    # Every pool with saved measurements shows them, whichever pool was shown before.
    shown = {pool: measurements_for_pool(experiment, pool) for pool in (3, 2, 1)}
    assert shown[1][1] == "saved" and shown[1][0].areas.tolist() == [5.0, 6.0]
    assert shown[3][1] == "saved" and shown[3][0].frames.tolist() == [2]
    assert shown[2] == (None, "none")

    # An upload naming pools 2 and 3 applies to them; pool 1 keeps its saved ones.
    upload = b"pool,frame,area\n2,0,7\n2,3,8\n3,1,4\n"
    m2, origin2 = measurements_for_pool(experiment, 2, upload=upload, upload_name="u.csv", uploaded_for=1)
    assert origin2 == "upload" and m2.frames.tolist() == [0, 3] and m2.areas.tolist() == [7.0, 8.0]
    m3, origin3 = measurements_for_pool(experiment, 3, upload=upload, upload_name="u.csv", uploaded_for=1)
    assert origin3 == "upload" and m3.areas.tolist() == [4.0]
    assert measurements_for_pool(experiment, 1, upload=upload, upload_name="u.csv", uploaded_for=1)[1] == "saved"
    # Without a pool column, an upload is for the pool it was uploaded on only.
    plain = b"frame,area\n0,1\n"
    assert measurements_for_pool(experiment, 2, upload=plain, upload_name="p.csv", uploaded_for=2)[1] == "upload"
    assert measurements_for_pool(experiment, 3, upload=plain, upload_name="p.csv", uploaded_for=2)[1] == "saved"

    # Saving writes every named pool; a file naming a missing pool saves nothing.
    paths = save_upload(experiment, upload, uploaded_for=1, name="u.csv")
    assert [p.name for p in paths] == ["pool02.csv", "pool03.csv"]
    assert load_saved_measurements(experiment, 3).areas.tolist() == [4.0]
    with pytest.raises(MeasurementError, match="pool 9"):
        save_upload(experiment, b"pool,frame,area\n2,0,1\n9,0,1\n", uploaded_for=1, name="bad.csv")
    assert load_saved_measurements(experiment, 2).areas.tolist() == [7.0, 8.0]
