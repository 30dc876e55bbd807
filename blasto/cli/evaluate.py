"""``python -m blasto evaluate``: Dice and IoU of a model on an experiment's validation frames."""

from __future__ import annotations

import json

from blasto.masks import THRESHOLD

HELP = "Dice and IoU of a model on each validation frame of an experiment, and their means."


def add_arguments(parser):
    parser.add_argument("--experiment", required=True, help="experiment whose validation frames to use")
    parser.add_argument("--model", required=True,
                        help="a .keras file, a run folder, or a run id / model name under models/")
    parser.add_argument("--threshold", type=float, default=THRESHOLD,
                        help=f"P(cell) above which a pixel is cell (default {THRESHOLD})")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    from blasto.store.experiment import open_experiment
    from blasto.train.evaluate import evaluate

    result = evaluate(open_experiment(args.experiment), args.model, threshold=args.threshold)
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print(f"model {result.model} on {result.experiment} (validation, threshold {result.threshold})")
    width = max(len(r.source) for r in result.frames)
    print(f"{'frame':<{width}}  {'Dice':>6}  {'IoU':>6}")
    for r in result.frames:
        print(f"{r.source:<{width}}  {r.dice:6.3f}  {r.iou:6.3f}")
    print(f"{'mean':<{width}}  {result.dice_mean:6.3f}  {result.iou_mean:6.3f}")
    return 0
