"""Memory while streaming a long movie, and the speed of cropping a plate into pools.

Usage::

    .venv/bin/python bench/bench_movie_memory.py                      # 2000 frames of 1024x1024
    .venv/bin/python bench/bench_movie_memory.py --frames 500 --size 512 --format gif   # or mp4
    .venv/bin/python bench/bench_movie_memory.py --frames 144 --size 1200 --crop   # crop speed

The movie is generated on the fly into a temporary multi-page TIFF (or GIF or MP4), one frame at
a time. A fresh child process then opens it with :func:`blasto.movies.open_movie` and reads
every frame, printing its memory after 0, 100, 500, ... frames: the resident set (RSS, split
into anonymous memory, which is what the program holds, and file-backed pages, which the
kernel may drop at will) and the peak RSS. Flat numbers mean streaming does not grow with
the number of frames. With ``--crop`` the child also crops the movie into a 4x4 grid of pools
with :func:`blasto.prepare.crop.crop_plate` and cleans them with
:func:`blasto.prepare.clean.clean_experiment`, and prints the time and memory they took.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

# This script's folder is on sys.path when it runs as a script, and the spawned children
# inherit that sys.path.
from _common import peak_rss_mb  # noqa: E402


def memory_mb() -> dict:
    """Current RSS (anonymous and file-backed) and peak RSS of this process, in MB."""
    status = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            status[key] = int(value.split()[0]) / 1024
    status["peak"] = peak_rss_mb()
    return status


def write_movie(path: Path, *, frames: int, size: int) -> None:
    """A plate-like movie (bright disks on dark, noise, a moving blob), written frame by frame.

    The format follows the suffix: ``.tif``, ``.gif`` or ``.mp4``. (Pillow's GIF writer keeps
    the frames it is given until it closes: that is the writer's memory, in its own process,
    not the reader's.)
    """
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    pitch = size / 4
    plate = np.full((size, size), 30, np.uint8)
    for r in range(4):
        for c in range(4):
            plate[np.hypot(yy - pitch * (r + 0.5), xx - pitch * (c + 0.5)) < pitch * 0.4] = 160

    def generate():
        for index in range(frames):
            frame = plate.copy()
            cy = int(size / 2 + size / 4 * np.sin(index / 20))
            frame[max(cy - 10, 0):cy + 10, size // 2 - 10:size // 2 + 10] = 250
            frame ^= rng.integers(0, 8, (size, size), dtype=np.uint8)  # cheap noise
            yield frame

    if path.suffix == ".gif":
        from PIL import Image

        images = (Image.fromarray(frame) for frame in generate())
        next(images).save(path, save_all=True, append_images=images, duration=100)
    elif path.suffix == ".mp4":
        import imageio.v2 as imageio

        with imageio.get_writer(path, fps=10, codec="libx264", macro_block_size=16) as writer:
            for frame in generate():
                writer.append_data(frame)
    else:
        import tifffile

        tifffile.imwrite(path, generate(), shape=(frames, size, size), dtype=np.uint8,
                         imagej=True, metadata={"axes": "TYX", "finterval": 600})


def _write(path: str, frames: int, size: int, queue) -> None:
    write_movie(Path(path), frames=frames, size=size)
    queue.put(None)


def _stream(path: str, checkpoints: list[int], queue) -> None:
    from blasto.movies import open_movie

    rows = []
    with open_movie(path) as movie:
        rows.append((0, memory_mb(), 0.0))
        start = time.perf_counter()
        checksum = 0
        for index, frame in enumerate(movie, start=1):
            checksum += int(frame[0, 0])
            if index in checkpoints or index == movie.n_frames:
                rows.append((index, memory_mb(), time.perf_counter() - start))
    queue.put(rows)


def _crop(path: str, pool_size: int, queue) -> None:
    from blasto.prepare.clean import clean_experiment
    from blasto.prepare.crop import crop_plate
    from blasto.store.experiment import create_experiment
    from blasto.prepare.grid import suggest_grid
    from blasto.movies import open_movie

    with open_movie(path) as movie:
        grid = suggest_grid(movie.frame(0))
    with tempfile.TemporaryDirectory() as root:
        experiment = create_experiment("bench", root=root)
        before = memory_mb()
        start = time.perf_counter()
        crop_plate(path, experiment, grid=grid, size=pool_size)
        elapsed = time.perf_counter() - start
        after = memory_mb()
        start = time.perf_counter()
        clean_experiment(experiment)
        queue.put((grid, elapsed, before, after, time.perf_counter() - start))


def _in_child(target, *args):
    """Run ``target(*args, queue)`` in a fresh process, so its peak RSS is its own."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=2000, help="frames in the movie (default 2000)")
    parser.add_argument("--size", type=int, default=1024, help="frame side in pixels (default 1024)")
    parser.add_argument("--format", choices=("tif", "gif", "mp4"), default="tif",
                        help="movie format to stream (default tif, a multi-page TIFF)")
    parser.add_argument("--crop", action="store_true", help="also time cropping into 16 pools")
    parser.add_argument("--pool-size", type=int, default=256, help="working size for --crop (default 256)")
    args = parser.parse_args(argv)

    frame_mb = args.size * args.size / 2**20
    print(f"movie: {args.frames} frames of {args.size}x{args.size} uint8 "
          f"({frame_mb:.1f} MB a frame, {frame_mb * args.frames:.0f} MB in all)")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"long.{args.format}"
        start = time.perf_counter()
        # In a child too: a forked child starts with its parent's RSS as its peak.
        _in_child(_write, str(path), args.frames, args.size)
        print(f"written frame by frame in {time.perf_counter() - start:.1f} s: {path}")

        checkpoints = sorted({c for c in (100, 500, 1000, 2000, 5000) if c < args.frames})
        rows = _in_child(_stream, str(path), checkpoints)
        base = rows[0][1]
        print(f"\n{'frames read':>11} {'RSS MB':>8} {'anon MB':>8} {'file MB':>8} "
              f"{'peak MB':>8} {'peak growth':>11} {'frames/s':>9}")
        for index, memory, elapsed in rows:
            rate = f"{index / elapsed:9.0f}" if elapsed else f"{'':>9}"
            print(f"{index:>11} {memory['VmRSS']:8.1f} {memory['RssAnon']:8.1f} "
                  f"{memory['RssFile']:8.1f} {memory['peak']:8.1f} "
                  f"{memory['peak'] - base['peak']:+11.1f} {rate}")

        if args.crop:
            grid, elapsed, before, after, cleaning = _in_child(_crop, str(path), args.pool_size)
            print(f"\ncrop_plate: {args.frames} frames -> 16 pools of {args.pool_size}x{args.pool_size} "
                  f"in {elapsed:.1f} s ({args.frames / elapsed:.0f} frames/s); grid {grid}")
            print(f"  anonymous memory {before['RssAnon']:.0f} -> {after['RssAnon']:.0f} MB, "
                  f"peak RSS {before['peak']:.0f} -> {after['peak']:.0f} MB")
            print(f"clean_experiment: {16 * args.frames} pool frames in {cleaning:.1f} s "
                  f"({16 * args.frames / cleaning:.0f} frames/s)")


if __name__ == "__main__":
    main()
