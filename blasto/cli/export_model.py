"""``python -m blasto export-model``: a trained model as a package other tools open."""

from __future__ import annotations

HELP = "Export a trained model as a BioImage Model Zoo package (opens in Fiji/deepImageJ, napari, ilastik)."


def add_arguments(parser):
    parser.add_argument("model", metavar="RUN",
                        help="a run folder, a .keras file, or a run id / model name under models/ (e.g. demo)")
    parser.add_argument("--format", choices=("bioimageio",), default="bioimageio",
                        help="package format (default bioimageio: bioimageio.spec 0.5, keras_v3 weights)")
    parser.add_argument("--experiment", metavar="NAME",
                        help="experiment to take the test input from (default: the one the model was trained on)")
    parser.add_argument("--out", required=True, metavar="FILE.zip", help="the package to write")


def run(args) -> int:
    from blasto.model.bioimageio import export_bioimageio

    exported = export_bioimageio(args.model, args.out, experiment=args.experiment)
    dice = f", validation Dice {exported.val_dice:.3f}" if exported.val_dice is not None else ""
    print(f"wrote {exported.path}: model {exported.model} "
          f"(trained on {exported.experiment or 'an unrecorded experiment'}{dice}), "
          f"input {exported.input_size}x{exported.input_size}")
    return 0
