"""Many plates: `python -m blasto batch` on Dask with 1 and 2 workers against `crop` + `predict`
looping over the same plates.

Prints pool frames/s for each way and the scaling. The plates are copies of the demo plate
(its first ``--frames`` frames, so a run takes minutes, not an hour, on 2 cores), written as
ImageJ TIFFs with the demo's pixel size and frame interval.

    .venv/bin/python bench/bench_batch.py --plates 4 --frames 12

Each way starts from nothing (a fresh output folder and experiments), so nothing is skipped.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def write_plates(source: Path, folder: Path, *, plates: int, frames: int) -> list[Path]:
    import tifffile

    with tifffile.TiffFile(source) as tif:
        meta = tif.imagej_metadata or {}
        resolution = tif.pages[0].resolution
        stack = tif.asarray(key=range(min(frames, len(tif.pages))))
    paths = []
    for index in range(plates):
        path = folder / f"plate{index + 1}.tif"
        tifffile.imwrite(path, stack, imagej=True, resolution=resolution,
                         metadata={"axes": "TYX", "finterval": meta.get("finterval", 600.0),
                                   "unit": meta.get("unit", "um")})
        paths.append(path)
    return paths


def blasto(*args, env) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "blasto", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"blasto {' '.join(map(str, args))} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plates", type=int, default=4)
    parser.add_argument("--frames", type=int, default=12, help="frames of each plate (default 12)")
    parser.add_argument("--movie", default=str(REPO / "data" / "demo-movie" / "plate.tif"))
    parser.add_argument("--model", default="demo")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        tmp = Path(tmp)
        plates = write_plates(Path(args.movie), tmp, plates=args.plates, frames=args.frames)
        pool_frames = args.plates * 16 * args.frames
        print(f"{args.plates} plates x 16 pools x {args.frames} frames = {pool_frames} pool frames, "
              f"model {args.model}, {os.cpu_count()} CPUs")
        env = {**os.environ, "BLASTO_DATA": str(tmp / "loop-data")}
        started = time.perf_counter()
        for index, plate in enumerate(plates, start=1):
            blasto("crop", plate, "--experiment", f"p{index}", env=env)
            blasto("clean", "--experiment", f"p{index}", env=env)
            blasto("predict", "--experiment", f"p{index}", "--model", args.model, "--out",
                   tmp / "loop" / f"p{index}", "--no-movie", env=env)
        loop = time.perf_counter() - started
        print(f"crop + clean + predict loop: {loop:7.1f} s  {pool_frames / loop:6.2f} pool frames/s")
        for workers in args.workers:
            seconds = blasto("batch", *plates, "--model", args.model, "--out", tmp / f"batch{workers}",
                             "--workers", workers, env={**os.environ})
            print(f"batch, {workers} Dask worker(s):   {seconds:7.1f} s  {pool_frames / seconds:6.2f} pool frames/s "
                  f"({loop / seconds:.2f}x the loop)")


if __name__ == "__main__":
    main()
