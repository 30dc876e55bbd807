"""Collapse detection on the demo: precision and recall against the drawn collapses. Prints, asserts nothing.

    .venv/bin/python bench/bench_events.py [--data DIR] [--model demo] [--pools 1 2 ...] [--drop 37]

Measures every pool of the demo experiment twice: on the exact truth masks (the detector alone)
and with the model's predictions (cached per model and pool as on the Review page; the first run
predicts the plate). A detected collapse matches a drawn one (``demo-movie/scene.json``) when its
start frame is within 3 frames; each is matched once. The demo is written to a temporary folder
unless ``--data`` names a folder that holds it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _common import demo_data  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="folder holding the demo (default: write one)")
    parser.add_argument("--model", default="demo", help="model name or path (default: the shipped demo)")
    parser.add_argument("--pools", type=int, nargs="+", help="pools (default: all)")
    parser.add_argument("--drop", type=float, default=None, help="collapse drop in %% (default 37)")
    args = parser.parse_args(argv)

    from blasto.demo.validate import read_scene, validate_events
    from blasto.review.events import EventSettings
    from blasto.store.experiment import open_experiment

    settings = EventSettings() if args.drop is None else EventSettings(drop_percent=args.drop)
    print(settings.describe())
    with demo_data(args.data) as data:
        os.environ["BLASTO_DATA"] = str(data)
        experiment = open_experiment("demo", root=data)
        scene = read_scene(data / "demo-movie" / "scene.json")
        for model in ("truth", args.model):
            started = time.perf_counter()
            result = validate_events(experiment, model=model, pools=args.pools, settings=settings, scene=scene)
            print(f"{result.describe()}  ({time.perf_counter() - started:.1f} s)")
            for pool in result.pools:
                if pool.matched != len(pool.true_frames) or pool.matched != len(pool.detected_frames):
                    print(f"  pool {pool.pool:2d}: drawn {list(pool.true_frames)}, detected {list(pool.detected_frames)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
