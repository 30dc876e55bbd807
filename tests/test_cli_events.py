"""The events, report and predict commands on a tiny experiment whose cell collapses once."""

import json

import numpy as np
import pandas as pd
import pytest

from blasto.cli.main import main as cli_main
from blasto.store.experiment import create_experiment
from synthetic import disc, set_pools

SIZE, FRAMES, COLLAPSE = 48, 30, 14  # the cell halves its area after frame 14


@pytest.fixture
def collapsing(roots):
    """Experiment "one" (a pool whose dark cell collapses once, 10 min a frame, hand
    measurements) and a "model" that calls dark pixels cell (a 1x1 convolution)."""
    import keras

    data, models = roots
    experiment = create_experiment("one")
    set_pools(experiment, [1], size=SIZE)
    experiment.manifest.frame_interval_s = 600.0
    experiment.save_manifest()
    radius = np.where(np.arange(FRAMES) <= COLLAPSE, 14.0, 14.0 / np.sqrt(2))
    radius[COLLAPSE + 6:] = 14.0  # re-expanded 6 frames later
    movie = np.full((FRAMES, SIZE, SIZE), 170, np.uint8)
    for t in range(FRAMES):
        movie[t][disc(SIZE, (SIZE / 2, SIZE / 2), radius[t])] = 70
    experiment.write_pool_movie(1, movie, cleaned=True)
    areas = [disc(SIZE, (SIZE / 2, SIZE / 2), r).sum() for r in radius]
    (data / "one" / "measurements").mkdir(exist_ok=True)
    pd.DataFrame({"frame": range(0, FRAMES, 2), "area": areas[::2]}).to_csv(
        experiment.measurements_path(1), index=False)

    image = keras.Input((None, None, 1))
    dark = keras.layers.Conv2D(1, 1, activation="sigmoid", kernel_initializer=keras.initializers.Constant(-20.0),
                               bias_initializer=keras.initializers.Constant(10.0))(image)
    (models / "dark").mkdir()
    keras.Model(image, dark).save(models / "dark" / "model.keras")
    return experiment


def test_events_prints_json_and_writes_csv(collapsing, capsys, tmp_path):
    common = ["events", "--experiment", "one", "--model", "dark", "--min-size", "10"]
    assert cli_main(common + ["--json", "--out", str(tmp_path / "ev.csv")]) == 0
    result = json.loads(capsys.readouterr().out)
    (pool,) = result["pools"]
    assert pool["collapses"] == 1 and result["settings"]["drop_percent"] == 37
    (event,) = pool["events"]
    assert event["start_frame"] == COLLAPSE and event["recovered"] and event["recovery_frame"] == COLLAPSE + 6
    assert abs(event["depth_percent"] - 50) < 3
    table = pd.read_csv(tmp_path / "ev.csv")
    assert table["start_frame"].tolist() == [COLLAPSE]
    assert pd.read_csv(tmp_path / "ev_summary.csv")["collapses"].tolist() == [1]
    # A stricter definition: no collapse; printed as tables.
    assert cli_main(common + ["--drop", "60"]) == 0
    assert "no collapses" in capsys.readouterr().out


def test_predict_writes_events_beside_the_areas(collapsing, tmp_path):
    out = tmp_path / "out"
    assert cli_main(["predict", "--experiment", "one", "--model", "dark", "--min-size", "10",
                     "--masks", "none", "--no-movie", "--out", str(out)]) == 0
    areas = pd.read_csv(out / "areas.csv")
    assert {"collapse", "event"} <= set(areas.columns)
    assert areas.loc[COLLAPSE, "event"] == "start" and areas.loc[COLLAPSE + 1, "collapse"] == 1
    assert pd.read_csv(out / "events.csv")["start_frame"].tolist() == [COLLAPSE]


def test_predict_without_a_frame_interval_writes_areas_and_says_why_no_events(collapsing, tmp_path, capsys):
    collapsing.manifest.frame_interval_s = None
    collapsing.save_manifest()
    out = tmp_path / "out"
    assert cli_main(["predict", "--experiment", "one", "--model", "dark", "--min-size", "10",
                     "--masks", "none", "--no-movie", "--out", str(out)]) == 0
    assert "no frame interval, so no collapse events" in capsys.readouterr().out
    assert len(pd.read_csv(out / "areas.csv")) == FRAMES and not (out / "events.csv").exists()


def test_report_writes_one_page_with_figures(collapsing, tmp_path):
    out = tmp_path / "report"
    assert cli_main(["report", "--experiment", "one", "--model", "dark", "--min-size", "10", "--out", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert "Collapse events" in page and "Agreement with manual measurements" in page and "Pearson r" in page
    assert page.count("<script") >= 2  # plotly inlined once, then the charts
    for name in ("plate.png", "agreement_pool01.png", "events.csv", "summary.csv", "areas.csv"):
        assert (out / name).stat().st_size > 100, name
