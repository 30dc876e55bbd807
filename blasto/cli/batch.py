"""``python -m blasto batch MOVIES... --model M --out DIR``: many plates at once, on Dask.

Each plate movie is cropped (suggested grid, or ``--grid``), cleaned, predicted and measured
like ``crop`` then ``predict`` (see :mod:`blasto.batch`); finished plates are skipped, so an
interrupted batch resumes. Exit status 0 when every plate is done, 1 when some failed (each
named), 2 on bad arguments.
"""

from __future__ import annotations

import os

from blasto.cli.predict import add_post_arguments, post_from
from blasto.model.inference import DEFAULT_BATCH_SIZE
from blasto.prepare.clean import DEFAULT_TOLERANCE, check_tolerance

HELP = "Crop, clean, predict and measure many plate movies on Dask; per-plate and combined results."


def add_arguments(parser):
    parser.add_argument("movies", nargs="+", metavar="MOVIE",
                        help="plate movies: files (GIF, TIFF, MP4/AVI), frame folders, folders of "
                             "movies, or quoted globs ('plates/*.tif')")
    parser.add_argument("--model", required=True, metavar="PATH",
                        help="model: a run/model folder, a .keras file, or a name under models/ (e.g. demo)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the results")
    parser.add_argument("--grid", default="auto", metavar="auto|TOP,LEFT,BOTTOM,RIGHT",
                        help="outer bounds of the pool grid in source pixels, the same for every "
                             "plate (default auto: suggested from each plate's first frame)")
    parser.add_argument("--rows", type=int, default=4, help="rows of pools (default 4)")
    parser.add_argument("--cols", type=int, default=4, help="columns of pools (default 4)")
    parser.add_argument("--size", type=int, default=256, help="working size of each pool movie (default 256)")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help=f"background flood-fill tolerance (default {DEFAULT_TOLERANCE})")
    add_post_arguments(parser)  # the same post-processing options as predict
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="frames per network call")
    parser.add_argument("--shard", metavar="K/N",
                        help="do only shard K of N (K from 0) of the sorted plates, for job arrays; "
                             "in a SLURM array it is taken from SLURM_ARRAY_TASK_ID by default")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="an existing Dask scheduler (tcp://host:8786) instead of a LocalCluster")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="LocalCluster workers (default: one per GPU, else cores/4)")
    parser.add_argument("--in-process", action="store_true",
                        help="run the LocalCluster's workers as threads of this process (starts in "
                             "a second: for small batches and tests)")


def run(args) -> int:
    from blasto.batch import require_dask
    from blasto.batch.cluster import start_client, stop_client
    from blasto.batch.inputs import find_movies, name_plates, parse_shard, take_shard
    from blasto.batch.plate import PlateSettings
    from blasto.batch.progress import BatchProgress
    from blasto.batch.run import run_batch
    from blasto.errors import BlastoError
    from blasto.model.files import model_file, resolve_model
    from blasto.prepare.grid import parse_grid

    require_dask()
    check_tolerance(args.tolerance)
    if args.grid != "auto":
        parse_grid(args.grid, rows=args.rows, cols=args.cols)  # refuse a bad grid before starting
    if args.workers is not None and args.workers < 1:
        raise BlastoError(f"--workers {args.workers}: give at least 1.")
    post = post_from(args)
    model = resolve_model(args.model)
    model_file(model)  # a folder without a model is refused here, not on every worker
    settings = PlateSettings(model=os.path.abspath(model), grid=args.grid, rows=args.rows, cols=args.cols,
                             size=args.size, tolerance=args.tolerance, post=post, batch_size=args.batch_size)
    plates = name_plates(find_movies(args.movies))
    shard = parse_shard(args.shard)
    plates = take_shard(plates, shard)
    if not plates:
        print(f"shard {shard[0]}/{shard[1]}: no plates to do")
        return 0
    client, cluster = start_client(scheduler=args.scheduler, workers=args.workers, plates=len(plates),
                                   processes=not args.in_process)
    shard_text = f" (shard {shard[0]}/{shard[1]})" if shard else ""
    print(f"{len(plates)} plates{shard_text}, model {model}, {post.describe()}; {cluster}")
    try:
        result = run_batch(plates, settings, os.path.abspath(args.out), client=client,
                           progress=BatchProgress([p.name for p in plates]))
    finally:
        stop_client(client)
    print(result.describe())
    for failed in result.failed:
        print(f"failed: {failed.name} ({failed.movie}): {failed.error}")
    if result.combined:
        print(f"wrote {result.combined} and per-plate results in {os.path.join(os.path.abspath(args.out), 'plates')}")
    return 1 if result.failed else 0
