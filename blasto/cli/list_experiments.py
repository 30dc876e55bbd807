"""``python -m blasto list``: the experiments and what each holds."""

from pathlib import Path

from blasto.store.experiment import Experiment, list_experiments
from blasto.store.roots import data_root

HELP = "List experiments under data/ and what each holds."


def add_arguments(parser):
    parser.add_argument("--data", help="experiments folder (default: data/ or $BLASTO_DATA)")


def run(args) -> int:
    root = args.data or data_root()
    names = list_experiments(root=root)
    if not names:
        print(f"no experiments in {root}")
        return 0
    for name in names:
        print(Experiment(Path(root) / name).summary().describe())
    return 0
