"""``python -m blasto export-masks --experiment NAME DIR``: write annotations in the lab's layout."""

from blasto.store.experiment import open_experiment
from blasto.annotate.labexport import export_lab_folder, unsplit_pools

HELP = "Export an experiment's masks to DIR/train and DIR/validation (x = image, y = mask)."


def add_arguments(parser):
    parser.add_argument("--experiment", required=True, metavar="NAME", help="experiment to export")
    parser.add_argument("folder", metavar="DIR", help="empty (or new) folder to write into")
    parser.add_argument("--force", action="store_true",
                        help="write into a non-empty folder, replacing its train/ and validation/")


def run(args) -> int:
    experiment = open_experiment(args.experiment)
    counts = export_lab_folder(experiment, args.folder, force=args.force)
    left_out = unsplit_pools(experiment)
    if left_out:
        print(f"warning: not exported, on neither side of the split: pool(s) "
              f"{', '.join(map(str, left_out))}.")
    print(f"exported {counts['train']} train and {counts['validation']} validation pairs "
          f"to {args.folder}")
    return 0
