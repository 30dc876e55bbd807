"""``python -m blasto demo DIR``: the synthetic demo plate and the ready demo experiment."""

import time

from blasto.demo import MOVIE_DIR, write_demo
from blasto.store.roots import data_root

HELP = ("Write the synthetic demo plate (movie, exact ground truth, manual measurements) and "
        "the ready demo experiment (cropped, cleaned, annotated every 15th frame).")


def add_arguments(parser):
    parser.add_argument("dir", nargs="?", metavar="DIR",
                        help="folder to write into (default: data/ or $BLASTO_DATA)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--frames", type=int, default=144,
                        help="number of frames, 10 minutes apart (default 144: 24 h)")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing demo experiment (its annotations are lost)")


def run(args) -> int:
    root = args.dir or data_root()
    start = time.monotonic()

    def say(message):
        print(f"[{time.monotonic() - start:5.1f} s] {message}", flush=True)

    experiment = write_demo(root, seed=args.seed, n_frames=args.frames, overwrite=args.force,
                            progress=say)
    print(f"demo experiment in {experiment.path}: {experiment.summary().describe()}")
    print(f"raw plate movie, truth and manual measurements: {experiment.path.parent / MOVIE_DIR}")
    return 0
