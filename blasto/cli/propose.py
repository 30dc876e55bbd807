"""``python -m blasto propose``: the Draw step's Propose button, headless.

Runs a model (default: the experiment's default model, as the page picks it) on frames of one
pool and writes each proposed mask as a lab PNG (black = cell)::

    DIR/pool03/frame0015.png
    DIR/proposals.csv          pool, frame, source (e.g. "model demo"), cell_px

Nothing is saved into the experiment: correct the PNGs, then import them, or propose in the
Draw step, where a proposal is an ordinary undoable edit.
"""

from __future__ import annotations

from pathlib import Path

from blasto.cli.crop import progress_bar
from blasto.masks import THRESHOLD, encode_lab_mask
from blasto.store import atomic

HELP = "Propose masks for frames of a pool with a model; write them as lab PNGs (black = cell)."


def add_arguments(parser):
    parser.add_argument("--experiment", required=True, metavar="NAME", help="experiment (under data/)")
    parser.add_argument("--pool", required=True, type=int, metavar="N", help="pool (from 1)")
    parser.add_argument("--frames", required=True, type=int, nargs="+", metavar="F", help="frames (from 0)")
    parser.add_argument("--model", metavar="M",
                        help="model: a run/model folder, a .keras file, or a name under models/ "
                             "(default: the best run trained on this experiment, else demo)")
    parser.add_argument("--threshold", type=float, default=THRESHOLD,
                        help=f"P(cell) threshold (default {THRESHOLD})")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the PNGs")


def write_proposals(proposals, out, *, progress=None) -> Path:
    """Write proposals as ``out/poolNN/frameNNNN.png`` (lab PNGs) and ``out/proposals.csv``;
    ``progress(done, total)`` after each file."""
    out = Path(out)
    lines = ["pool,frame,source,cell_px"]
    for done, proposal in enumerate(proposals, start=1):
        atomic.write_png(out / f"pool{proposal.pool:02d}" / f"frame{proposal.frame:04d}.png",
                         encode_lab_mask(proposal.mask))
        lines.append(f'{proposal.pool},{proposal.frame},"{proposal.source}",{int(proposal.mask.sum())}')
        if progress:
            progress(done, len(proposals))
    csv = out / "proposals.csv"
    atomic.write_text(csv, "\n".join(lines) + "\n")
    return csv


def run(args) -> int:
    from blasto.annotate.propose import as_experiment, model_name, model_path, propose_masks

    experiment = as_experiment(args.experiment)
    model = model_path(experiment, args.model)
    print(f"{experiment.name}, pool {args.pool}: proposing {len(args.frames)} frame(s) "
          f"with model {model_name(model)}")
    proposals = propose_masks(experiment, args.pool, args.frames, model=model, threshold=args.threshold,
                              progress=progress_bar("proposing"))
    csv = write_proposals(proposals, args.out)
    print(f"wrote {len(proposals)} mask(s) in {Path(args.out) / f'pool{args.pool:02d}'} and {csv}")
    return 0
