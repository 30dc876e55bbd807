"""``python -m blasto interpolate``: masks for the frames between a pool's saved keyframes.

Shape interpolation (signed distance maps, :mod:`blasto.annotate.interpolate`) between each two
consecutive saved masks of the pool (hand masks, and imported pairs that are frames of it),
written like ``propose`` writes: ``DIR/poolNN/frameNNNN.png`` (lab PNGs, black = cell) and
``DIR/proposals.csv``.
"""

from __future__ import annotations

from pathlib import Path

from blasto.cli.crop import progress_bar
from blasto.cli.propose import write_proposals
from blasto.errors import MaskError

HELP = "Interpolate masks for the frames between a pool's saved keyframes; write lab PNGs."


def add_arguments(parser):
    parser.add_argument("--experiment", required=True, metavar="NAME", help="experiment (under data/)")
    parser.add_argument("--pool", required=True, type=int, metavar="N", help="pool (from 1)")
    parser.add_argument("--frames", type=int, nargs="+", metavar="F",
                        help="only these frames (default: every frame between keyframes)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the PNGs")


def run(args) -> int:
    from blasto.annotate.interpolate import interpolate_pool
    from blasto.annotate.propose import as_experiment, check_pool, saved_masks

    experiment = as_experiment(args.experiment)
    pool = check_pool(experiment, args.pool)
    keyframes = list(saved_masks(experiment, pool))
    if len(keyframes) < 2:
        raise MaskError(f"Pool {pool} of {experiment.name} has {len(keyframes)} saved mask(s); "
                        "interpolation needs two keyframes or more (draw or propose them first).")
    print(f"{experiment.name}, pool {pool}: keyframes {', '.join(map(str, keyframes))}")
    proposals = interpolate_pool(experiment, pool, frames=args.frames)
    csv = write_proposals(proposals, args.out, progress=progress_bar("writing"))
    print(f"wrote {len(proposals)} interpolated mask(s) in {Path(args.out) / f'pool{pool:02d}'} and {csv}")
    return 0
