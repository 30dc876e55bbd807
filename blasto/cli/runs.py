"""``python -m blasto runs``: the training runs under models/, newest first."""

from __future__ import annotations

import json

HELP = "List training runs (state, settings, best val_loss, validation Dice)."


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print the list as JSON")


def _number(value, fmt) -> str:
    return "-" if value is None else format(value, fmt)


def run(args) -> int:
    from blasto.store.roots import models_root
    from blasto.train.runs import list_runs

    runs = [run.summary() for run in list_runs()]
    if args.json:
        print(json.dumps([r.to_dict() for r in runs], indent=2, default=str))
        return 0
    if not runs:
        print(f"no training runs in {models_root()}")
        return 0
    header = f"  {'run':<32} {'experiment':<14} {'status':<16} {'epochs':>7} {'best val_loss':>13} {'val Dice':>8}  settings"
    print(header)
    for r in runs:
        settings = (f"{r.optimizer} lr {_number(r.learning_rate, 'g')}, batch {r.batch_size}, "
                    f"{r.steps_per_epoch} steps/epoch, {r.loss}, "
                    f"{'dropout' if r.dropout else 'no dropout'}, {r.start_filters} filters, "
                    f"{r.precision}")
        print(f"{'*' if r.active else ' '} {r.run_id:<32} {str(r.experiment):<14} "
              f"{r.label:<16} {r.epochs_done:>3}/{str(r.epochs):<3} "
              f"{_number(r.best_val_loss, '.4f'):>13} {_number(r.val_dice, '.3f'):>8}  {settings}")
        if r.state == "failed" and r.error:
            print(f"    error: {r.error}")
    print("(* = training now)")
    return 0
