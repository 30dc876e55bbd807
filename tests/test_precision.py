"""Choosing float32 or mixed bfloat16 by measuring this machine, once."""

import json

from blasto.train import number_format as precision


def fake_timings(float32_s, bfloat16_s, calls):
    def measure(*, mixed_precision):
        calls.append(mixed_precision)
        return bfloat16_s if mixed_precision else float32_s
    return measure


def test_the_faster_precision_is_chosen_and_remembered(tmp_path):
    path, calls = tmp_path / "cache" / "precision.json", []
    mixed, reason = precision.choose_mixed_precision(measure=fake_timings(1.0, 0.5, calls), path=path)
    assert mixed and "2.00x" in reason and calls == [False, True]
    # The second time it is read back, not measured.
    assert precision.choose_mixed_precision(measure=fake_timings(1.0, 2.0, calls), path=path) == (mixed, reason)
    assert calls == [False, True]
    saved = json.loads(path.read_text())
    assert saved["signature"] == precision.machine_signature() and saved["bfloat16_s"] == 0.5


def test_bfloat16_must_win_clearly_and_another_machine_measures_again(tmp_path):
    path, calls = tmp_path / "precision.json", []
    mixed, reason = precision.choose_mixed_precision(measure=fake_timings(1.0, 0.95, calls), path=path)
    assert not mixed and reason.startswith("float32") and "1.05x" in reason
    path.write_text(json.dumps({**json.loads(path.read_text()), "signature": "another machine"}))
    assert precision.choose_mixed_precision(measure=fake_timings(1.0, 0.5, calls), path=path)[0]
    path.write_text("{torn")
    assert not precision.choose_mixed_precision(measure=fake_timings(1.0, 1.0, calls), path=path)[0]
    assert len(calls) == 6


def test_a_real_training_step_is_timed_in_both_precisions():
    for mixed in (False, True):
        seconds = precision.time_training_step(mixed_precision=mixed, input_size=32,
                                               start_filters=4, steps=1)
        assert 0 < seconds < 60
