"""How long writing the demo takes, stage by stage, and how much memory it needs.

Usage::

    .venv/bin/python bench/bench_demo.py                 # the default demo: 144 frames
    .venv/bin/python bench/bench_demo.py --frames 20 --seed 3

Writes the demo into a temporary folder with :func:`blasto.demo.write_demo` and prints the
time of each stage (drawing, writing the movie and truth, cropping, cleaning, annotating),
the total, the peak resident memory (RSS) and the size of what was written. Run it on an idle
machine: the figures are CPU-bound and single-threaded.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from _common import peak_rss_mb  # noqa: E402  (this script's folder is on sys.path)


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=144)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from blasto.demo import EXPERIMENT_NAME, MOVIE_DIR, write_demo

    stages = []
    start = time.perf_counter()

    def progress(message):
        stages.append((time.perf_counter(), message))

    with tempfile.TemporaryDirectory() as tmp:
        write_demo(tmp, seed=args.seed, n_frames=args.frames, progress=progress)
        total = time.perf_counter() - start
        print(f"write_demo, {args.frames} frames, seed {args.seed}:")
        for (began, message), (ended, _) in zip(stages, stages[1:]):
            print(f"  {ended - began:6.1f} s  {message}")
        print(f"  {total:6.1f} s  total")
        peak_mb = peak_rss_mb()
        print(f"peak RSS: {peak_mb:.0f} MB")
        for name in (MOVIE_DIR, EXPERIMENT_NAME):
            print(f"{name}/: {folder_size(Path(tmp) / name) / 1e6:.0f} MB on disk")
    return 0


if __name__ == "__main__":
    sys.exit(main())
