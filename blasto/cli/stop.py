"""``python -m blasto stop``: stop the training run that is going (from any shell)."""

from __future__ import annotations

import time

HELP = "Stop the running training run within one batch, keeping its best checkpoint."


def add_arguments(parser):
    parser.add_argument("--run", help="run folder or run id (default: the one training now)")
    parser.add_argument("--wait", action="store_true", help="wait until the run has stopped")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds to wait with --wait (default 300)")


def run(args) -> int:
    from blasto.train.supervisor import active_run, request_stop

    run = request_stop(args.run)
    print(f"asked {run.name} to stop: it ends after its current batch and keeps its best checkpoint")
    if args.wait:
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline and active_run() == run:
            time.sleep(0.5)
        print(f"{run.name}: {run.reload().status.label}")
    return 0
