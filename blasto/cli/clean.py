"""``python -m blasto clean --experiment NAME``: (re)clean the pools' background.

Flood-fills the dark plate around every pool from the uncleaned crops, with the given
tolerance; the same code path as the Annotate page (:func:`blasto.prepare.clean.clean_experiment`).
"""

from blasto.prepare.clean import DEFAULT_TOLERANCE, clean_experiment
from blasto.cli.crop import progress_bar
from blasto.store.experiment import open_experiment

HELP = "Clean the background of an experiment's pool movies (flood fill from the corners)."


def add_arguments(parser):
    parser.add_argument("--experiment", required=True, metavar="NAME", help="experiment to clean")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help=f"flood-fill tolerance in gray levels (default {DEFAULT_TOLERANCE})")


def run(args) -> int:
    experiment = open_experiment(args.experiment)
    clean_experiment(experiment, tolerance=args.tolerance, progress=progress_bar("cleaning"))
    background = experiment.manifest.background
    print(f"experiment {experiment.name!r}: {len(experiment.pool_numbers)} pools cleaned, "
          f"background filled with gray {background.fill_value} "
          f"(tolerance {background.tolerance})")
    return 0
