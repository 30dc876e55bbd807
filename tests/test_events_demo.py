"""Collapse detection validated on the demo: drawn collapse frames (scene.json) vs detected ones."""

import json
import time

from blasto.demo.validate import read_scene, true_collapse_frames, validate_events
from blasto.store.experiment import open_experiment

# Two pools of two cells each (one cell's collapse is half a drop of the pool's area), one of
# them a validation pool the demo model never trained on: 9 drawn collapses.
MODEL_POOLS = (8, 12)


def test_demo_collapses_are_found(demo_roots):
    data, _ = demo_roots
    experiment = open_experiment("demo")
    scene = read_scene()
    assert scene == json.loads((data / "demo-movie" / "scene.json").read_text())
    assert true_collapse_frames(scene, 8) == sorted(true_collapse_frames(scene, 8))

    started = time.perf_counter()
    truth = validate_events(experiment, model="truth", scene=scene)  # the detector alone, all 16 pools
    truth_s = time.perf_counter() - started
    assert truth.drawn >= 40
    assert truth.precision >= 0.9 and truth.recall >= 0.9, truth.describe()

    started = time.perf_counter()
    shipped = validate_events(experiment, model="demo", pools=MODEL_POOLS, scene=scene)
    model_s = time.perf_counter() - started
    assert shipped.drawn == 9 and shipped.source == "model demo"
    assert shipped.precision >= 0.9 and shipped.recall >= 0.9, shipped.describe()
    print(f"{truth.describe()} in {truth_s:.1f} s; {shipped.describe()} in {model_s:.1f} s")
