"""``python -m blasto``: the headless twin of every page action.

Each subcommand is a module in :mod:`blasto.cli` with ``HELP``, ``add_arguments(parser)``
and ``run(args) -> int``. Bad input raises :class:`~blasto.errors.BlastoError`; it is printed as
one plain line and the exit status is 2. Any other exception is a bug: its traceback goes to
the log (:mod:`blasto.store.log`), one line naming the log is printed, and the exit status
is 1. Ctrl-C exits with status 130 (``train`` handles it itself as a Stop).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from blasto.errors import BlastoError
from blasto.store.log import log_exception, short_report

# Subcommand name -> module in blasto.cli, in the order of the lab's workflow.
COMMANDS = {
    "demo": "demo",
    "list": "list_experiments",
    "crop": "crop",
    "clean": "clean",
    "import-masks": "import_masks",
    "export-masks": "export_masks",
    "propose": "propose",
    "interpolate": "interpolate",
    "train": "train",
    "runs": "runs",
    "stop": "stop",
    "evaluate": "evaluate",
    "predict": "predict",
    "events": "events",
    "report": "report",
    "batch": "batch",
    "export-model": "export_model",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m blasto",
        description="Measure blastocyst growth and collapse in time-lapse plate movies.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(f"blasto.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"blasto.cli.{module_name}":
                continue  # not built yet
            raise
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 1
    try:
        return int(args.handler(args) or 0)
    except BlastoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the command line's one error boundary
        path = log_exception(exc, where=f"python -m blasto {args.command}")
        print(f"error: {short_report(exc, path)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
