"""``python -m blasto crop MOVIE --experiment NAME``: crop a plate into pools, then clean them.

The same code paths as the Annotate page: :func:`blasto.prepare.grid.suggest_grid` (unless ``--grid``
is given), :func:`blasto.prepare.crop.crop_plate`, :func:`blasto.prepare.clean.clean_experiment`.
"""

from __future__ import annotations

import sys

from blasto.prepare.clean import DEFAULT_TOLERANCE, check_tolerance, clean_experiment
from blasto.prepare.crop import crop_plate
from blasto.store.experiment import create_experiment, delete_experiment, list_experiments, validate_name
from blasto.prepare.grid import parse_grid, suggest_grid
from blasto.movies import open_movie

HELP = "Crop a plate movie into one movie per pool, then clean the pools' background."


def add_arguments(parser):
    parser.add_argument("movie", metavar="MOVIE",
                        help="GIF, TIFF, MP4/AVI, or a folder of numbered frames")
    parser.add_argument("--experiment", required=True, metavar="NAME",
                        help="experiment to crop into (created if missing)")
    parser.add_argument("--rows", type=int, default=4, help="rows of pools (default 4)")
    parser.add_argument("--cols", type=int, default=4, help="columns of pools (default 4)")
    parser.add_argument("--size", type=int, default=256,
                        help="working size of each square pool movie in pixels (default 256)")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help=f"background flood-fill tolerance in gray levels (default {DEFAULT_TOLERANCE})")
    parser.add_argument("--grid", metavar="TOP,LEFT,BOTTOM,RIGHT",
                        help="outer bounds of the pool grid in source pixels (default: suggested "
                             "from the first frame)")
    parser.add_argument("--overwrite", action="store_true",
                        help="crop again even though the experiment has hand masks (deletes them)")


def progress_bar(label: str, *, width: int = 30, stream=None):
    """A ``progress(done, total)`` callback drawing a one-line text bar (``\\r`` updates)."""
    stream = stream or sys.stdout
    shown = {"percent": -1}

    def progress(done: int, total: int) -> None:
        percent = 100 * done // max(total, 1)
        if percent == shown["percent"] and done != total:
            return  # redraw only when the bar moves
        shown["percent"] = percent
        filled = width * done // max(total, 1)
        stream.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:
            stream.write("\n")
        stream.flush()

    return progress


def run(args) -> int:
    name = validate_name(args.experiment)
    check_tolerance(args.tolerance)  # refuse before cropping, not after
    # One open movie serves the summary, the grid and the crop: opening a video decodes the
    # whole stream to count its frames, so opening it again for crop_plate would do that twice.
    with open_movie(args.movie) as movie:
        print(f"{movie.path}: {movie.n_frames} frames of {movie.width}x{movie.height} pixels, "
              f"frame interval {_interval(movie.frame_interval_s)}")
        if args.grid:
            grid = parse_grid(args.grid, rows=args.rows, cols=args.cols)
            how = "given"
        else:
            grid = suggest_grid(movie.frame(0), rows=args.rows, cols=args.cols)
            how = "suggested"
        grid.check(height=movie.height, width=movie.width, source=str(movie.path))
        print(f"grid ({how}): {grid.rows}x{grid.cols} pools in top,left,bottom,right = "
              f"{grid.top},{grid.left},{grid.bottom},{grid.right}")

        existed = name in list_experiments()
        experiment = create_experiment(name, exist_ok=True)
        try:
            crop_plate(movie, experiment, grid=grid, size=args.size,
                       progress=progress_bar("cropping"), overwrite=args.overwrite)
            # Cropped: release the source (for a video, its ffmpeg process) before cleaning; the
            # with block's close afterwards is harmless (Movie.close is safe to call twice).
            movie.close()
            clean_experiment(experiment, tolerance=args.tolerance, progress=progress_bar("cleaning"))
        except BaseException:
            if not existed:  # leave nothing behind when a new experiment could not be made
                delete_experiment(name)
            raise
    manifest = experiment.manifest
    print(f"experiment {name!r} in {experiment.path}: {len(manifest.pools)} pools of "
          f"{manifest.size}x{manifest.size} pixels, {manifest.source.n_frames} frames; "
          f"background filled with gray {manifest.background.fill_value} "
          f"(tolerance {manifest.background.tolerance}); "
          f"train pools {_pools(manifest.split.train)}, "
          f"validation pools {_pools(manifest.split.validation)}")
    return 0


def _interval(seconds) -> str:
    return "unknown" if not seconds else f"{seconds:g} s"


def _pools(numbers) -> str:
    return ",".join(map(str, numbers)) or "none"
