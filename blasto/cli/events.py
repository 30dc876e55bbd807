"""``python -m blasto events``: collapse and expansion events of an experiment's pools.

The Review page's events table, headless. Predicts (or reads the cached predictions of) the
pools, measures them as Review does and prints one row per collapse and one per pool;
``--json`` prints all of it as JSON, ``--out FILE`` writes the events CSV (one row per
collapse) and ``summary`` beside it.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from blasto.cli.predict import add_measure_arguments, post_from, settings_from

HELP = "Collapse and expansion events of an experiment's pools (table, JSON or CSV)."


def add_arguments(parser):
    add_measure_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the events as JSON")
    parser.add_argument("--out", metavar="FILE", help="write the events CSV here (and FILE's name + _summary.csv)")


def _clean(value):
    """JSON-safe: numpy scalars as Python numbers, NaN as null."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def events_json(results, *, settings, post, model: str) -> dict:
    """The events of ``results`` (blasto.review.report.plate_events) as one JSON-ready dict."""
    from blasto.review.events import events_table, summary_table

    pools = []
    for result, summary in zip(results, summary_table([r.events for r in results]).to_dict("records")):
        rows = events_table(result.events).to_dict("records")
        pools.append({**{k: _clean(v) for k, v in summary.items()},
                      "events": [{k: _clean(v) for k, v in row.items()} for row in rows]})
    return {"model": model, "settings": settings.as_dict(), "post_processing": post.describe(), "pools": pools}


def run(args) -> int:
    from blasto.cli.crop import progress_bar
    from blasto.model.files import model_id, resolve_model
    from blasto.review.events import events_table, summary_table
    from blasto.review.report import plate_events
    from blasto.store import atomic
    from blasto.store.experiment import open_experiment

    experiment = open_experiment(args.experiment)
    post, settings = post_from(args), settings_from(args)
    name = model_id(resolve_model(args.model))
    bar = progress_bar("predicting", stream=sys.stderr)  # stdout holds the table or the JSON
    results = plate_events(experiment, model=args.model, pools=args.pools, post=post, settings=settings,
                           progress=lambda done, total, pool: bar(done, total),
                           overwrite=args.overwrite, precision=args.precision)
    events = events_table([r.events for r in results])
    summary = summary_table([r.events for r in results])
    if args.out:
        out = Path(args.out)
        atomic.write_text(out, events.to_csv(index=False))
        atomic.write_text(out.with_name(out.stem + "_summary.csv"), summary.to_csv(index=False))
    if args.json:
        print(json.dumps(events_json(results, settings=settings, post=post, model=name), indent=1))
    else:
        print(f"{experiment.name}: model {name}, {post.describe()}; {settings.describe()}")
        print(summary.to_string(index=False))
        print()
        print(events.to_string(index=False) if len(events) else "no collapses")
        if args.out:
            print(f"wrote {args.out}")
    sys.stdout.flush()
    return 0

