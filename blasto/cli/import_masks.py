"""``python -m blasto import-masks DIR --experiment NAME``: import the lab's train/ and validation/."""

from blasto.errors import BlastoError
from blasto.store.experiment import create_experiment, list_experiments, open_experiment, validate_name
from blasto.annotate.labdata import read_lab_folder, store_lab_sides

HELP = "Import a lab folder (train/ and validation/, x = image, y = mask) into an experiment."


def add_arguments(parser):
    parser.add_argument("folder", metavar="DIR", help="folder holding train/ and validation/")
    parser.add_argument("--experiment", required=True, metavar="NAME",
                        help="experiment to import into (created if missing)")
    parser.add_argument("--size", type=int, default=256,
                        help="working size of a new experiment, pixels (default 256)")
    parser.add_argument("--replace", action="store_true",
                        help="replace pairs imported earlier instead of adding to them")


def run(args) -> int:
    name = validate_name(args.experiment)
    experiment = open_experiment(name) if name in list_experiments() else None
    size = experiment.size if experiment else int(args.size)
    if size < 8:
        raise BlastoError(f"--size {size} is too small: use at least 8 pixels.")
    # Check the whole folder before creating anything: a refused import leaves no trace.
    sides, report = read_lab_folder(args.folder, size=size)
    if experiment is None:
        experiment = create_experiment(name, size=size)
        print(f"created experiment {experiment.name} ({size}x{size})")
    store_lab_sides(experiment, sides, report, replace=args.replace)
    for warning in report.warnings:
        print(f"warning: {warning}")
    print(report.summary())
    return 0
