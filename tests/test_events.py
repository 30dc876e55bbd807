"""Collapse and expansion events on area curves of known shape (blasto.review.events)."""

import numpy as np
import pytest

from blasto.errors import BlastoError
from blasto.review.events import (
    EVENT_COLUMNS, Collapse, EventSettings, cell_areas, detect_cell_events, detect_events,
    events_from_masks, events_table, frame_columns, summary_table,
)

MINUTES = 10.0  # the demo's frame interval


def growth(n=144, start=1000.0, end=3000.0):
    """A smooth sigmoid expansion from ``start`` to ``end`` over ``n`` frames."""
    t = np.arange(n)
    return start + (end - start) / (1 + np.exp(-(t - n / 3) / (n / 12)))


def collapse_at(curve, when, *, depth=0.5, fall=2, recovery=8.0):
    """``curve`` with a collapse after frame ``when``: falls by ``depth`` in ``fall`` frames,
    then recovers exponentially (time constant ``recovery`` frames), as the demo draws it."""
    t = np.arange(len(curve)) - when
    shape = np.where(t < 0, 0.0, np.where(t < fall, t / fall, np.exp(-(t - fall) / recovery)))
    return curve * (1 - depth * shape)


def test_single_collapse_start_depth_recovery():
    area = collapse_at(growth(), 60, depth=0.5)
    events = detect_events(area, frame_minutes=MINUTES, pool=4)
    assert events.pool == 4 and events.n_collapses == 1
    c = events.collapses[0]
    assert c.start_frame == 60 and c.start_hours == pytest.approx(10.0)
    assert c.bottom_frame == 62
    assert c.depth_percent == pytest.approx(50, abs=1.5)
    # Back to 90 % of the peak: 1 - 0.5 exp(-(t-2)/8) >= 0.9 * peak / growth -> about 13 frames later.
    assert c.recovered and 70 <= c.recovery_frame <= 78
    assert c.recovery_hours == pytest.approx(c.recovery_frame * MINUTES / 60)
    assert c.hours_to_recover == pytest.approx((c.recovery_frame - 60) / 6)
    assert events.expansion_rate > 0
    assert events.max_expansion_frame > 100  # still growing at the end, away from the collapse


def test_two_collapses():
    area = collapse_at(collapse_at(growth(), 40, depth=0.45), 100, depth=0.6)
    events = detect_events(area, frame_minutes=MINUTES, pool=1)
    assert events.collapse_frames() == [40, 100]
    assert events.collapses[0].depth_percent == pytest.approx(45, abs=4)
    assert events.collapses[1].depth_percent == pytest.approx(60, abs=4)
    assert all(c.recovered for c in events.collapses)


def test_slow_decline_is_not_a_collapse():
    # Loses 60 % over 10 hours (a dying cell), never 37 % within 2 hours.
    area = np.r_[np.full(20, 2000.0), np.linspace(2000, 800, 60), np.full(20, 800.0)]
    assert detect_events(area, frame_minutes=MINUTES).collapses == ()
    # The same loss within an hour is one.
    fast = np.r_[np.full(20, 2000.0), np.linspace(2000, 800, 6), np.full(20, 800.0)]
    (c,) = detect_events(fast, frame_minutes=MINUTES).collapses
    assert c.start_frame == 20 and not c.recovered and c.recovery_hours is None


def test_noise_is_not_a_collapse():
    rng = np.random.default_rng(0)
    area = growth() * (1 + 0.06 * rng.standard_normal(144))  # 6 % noise: more than the model's
    assert detect_events(area, frame_minutes=MINUTES).collapses == ()
    # ...but does not hide a real collapse either.
    noisy = collapse_at(growth(), 80) * (1 + 0.06 * rng.standard_normal(144))
    (c,) = detect_events(noisy, frame_minutes=MINUTES).collapses
    assert abs(c.start_frame - 80) <= 3


def test_collapse_at_the_last_frame():
    area = np.r_[growth(60), [1200.0]]
    (c,) = detect_events(area, frame_minutes=MINUTES, pool=2).collapses
    assert (c.start_frame, c.bottom_frame) == (59, 60)
    assert c.recovery_frame is None and c.recovery_hours is None and not c.recovered
    table = events_table(detect_events(area, frame_minutes=MINUTES, pool=2))
    assert table.loc[0, "recovered"] == np.False_ and table["recovery_frame"].isna().all()


def test_settings_change_what_counts():
    area = collapse_at(growth(), 60, depth=0.3)  # 30 %: not a collapse by the field's definition
    assert detect_events(area, frame_minutes=MINUTES).collapses == ()
    assert detect_events(area, frame_minutes=MINUTES, settings=EventSettings(drop_percent=25)).n_collapses == 1
    # A collapse taking 3 h is no collapse within 2 h, but one within 4 h.
    slow = collapse_at(growth(), 60, depth=0.5, fall=18)
    assert detect_events(slow, frame_minutes=MINUTES).collapses == ()
    assert detect_events(slow, frame_minutes=MINUTES, settings=EventSettings(within_minutes=240)).n_collapses == 1
    with pytest.raises(BlastoError, match="frame interval"):
        detect_events(area, frame_minutes=None)
    with pytest.raises(BlastoError, match="Recovery fraction"):
        EventSettings(recover_fraction=0)


def test_two_cells_in_one_pool_are_measured_apart():
    # One cell of two collapses by 50 %: only 25 % of the pool's area, yet a collapse.
    masks = np.zeros((40, 30, 60), bool)
    yy, xx = np.ogrid[:30, :60]
    radius = np.where(np.arange(40) < 20, 10.0, 10.0 * np.sqrt(0.5))
    for t in range(40):
        masks[t] = (yy - 15) ** 2 + (xx - 15) ** 2 <= 100
        masks[t] |= (yy - 15) ** 2 + (xx - 45) ** 2 <= radius[t] ** 2
    assert detect_events(masks.sum(axis=(1, 2)), frame_minutes=MINUTES).collapses == ()
    curves = cell_areas(masks)
    assert curves.shape == (2, 40)
    events = events_from_masks(masks, frame_minutes=MINUTES, pool=8)
    (c,) = events.collapses
    assert (c.pool, c.start_frame, c.cell) == (8, 19, 2)
    assert detect_cell_events(curves, frame_minutes=MINUTES, pool=8).collapses == events.collapses


def test_tables():
    one = detect_events(collapse_at(growth(), 60), frame_minutes=MINUTES, pool=1)
    none = detect_events(growth(), frame_minutes=MINUTES, pool=2)
    table = events_table([one, none])
    assert table.columns.tolist() == EVENT_COLUMNS and len(table) == 1
    assert table.loc[0, "pool"] == 1 and table.loc[0, "start_frame"] == 60
    summary = summary_table([one, none])
    assert summary["collapses"].tolist() == [1, 0]
    assert summary["first_collapse_frame"].tolist()[0] == 60 and summary["first_collapse_frame"].isna().tolist()[1]
    columns = frame_columns(one, 144)
    assert columns.loc[60, "event"] == "start" and columns.loc[61, "collapse"] == 1
    assert columns.loc[59, "collapse"] == 0
    assert isinstance(one.collapses[0], Collapse)



def test_pool_events_of_an_experiment(roots):
    from blasto.review.events import pool_events
    from tests.synthetic import tiny_experiment

    experiment = tiny_experiment(pools=1, frames=4, size=16)
    masks = np.zeros((4, 16, 16), bool)
    masks[:, 2:12, 2:12] = True
    masks[2:, 2:12, 7:12] = False  # half the area goes at frame 2
    with pytest.raises(BlastoError, match="manifest.json: no frame interval"):
        pool_events(experiment, 1, masks)
    experiment.manifest.frame_interval_s = 600.0
    experiment.manifest.pixel_size_um = 2.0
    experiment.save_manifest()
    events = pool_events(experiment, 1, masks)
    assert events.unit == "area_um2" and events.collapse_frames() == [1]
    assert events.collapses[0].peak_area == pytest.approx(100 * 4.0)  # µm²: 2 µm pixels
    assert summary_table(events).loc[0, "unit"] == "area_um2"
