"""``python -m blasto report``: the plate report for the team meeting (the Review page's export).

Writes into ``--out``: report.html (all-pools curves with collapses shaded, the events table,
per-pool summary, agreement with manual measurements), plate.png, agreement_poolNN.png,
events.csv, summary.csv, areas.csv (:mod:`blasto.review.report`).
"""

from __future__ import annotations

import sys

from blasto.cli.predict import add_measure_arguments, post_from, settings_from

HELP = "Write the plate report: one HTML page with every pool's curve, the events and agreement, plus PNGs and CSVs."


def add_arguments(parser):
    add_measure_arguments(parser)
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the report")


def run(args) -> int:
    from blasto.cli.crop import progress_bar
    from blasto.review.report import plate_events, write_report
    from blasto.store.experiment import open_experiment

    experiment = open_experiment(args.experiment)
    post, settings = post_from(args), settings_from(args)
    bar = progress_bar("predicting")
    results = plate_events(experiment, model=args.model, pools=args.pools, post=post, settings=settings,
                           progress=lambda done, total, pool: bar(done, total), overwrite=args.overwrite,
                           precision=args.precision)
    path = write_report(experiment, args.model, args.out, settings=settings, post=post, results=results)
    print(f"wrote {path} ({sum(r.events.n_collapses for r in results)} collapses in {len(results)} pools)")
    sys.stdout.flush()
    return 0
