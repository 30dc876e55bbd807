"""Assisted annotation on the demo: how good proposals are, and what one retraining round costs.

    .venv/bin/python bench/bench_propose.py [--data DIR] [--corrections 3] [--epochs 3 --steps 50]

Prints, on the demo experiment's validation pools (every frame, against the demo's exact truth):

* proposals of the shipped demo model (``models/demo``), post-processed as Review does: mean
  Dice, and the pixels a person would have to change per frame (|proposal XOR truth|) against
  drawing the mask from scratch (the truth's area), as a percentage (target: below 5 %);
* the same for copying the nearest saved mask (the demo's keyframes, every 15th frame) and for
  shape interpolation between those keyframes (15 frames apart);
* one "retrain from corrections" round: the person corrects the ``--corrections`` most doubtful
  frames of each training pool (:func:`blasto.annotate.uncertainty.frames_to_check`; the
  correction is the truth), then :func:`blasto.annotate.retrain.start_retrain` fine-tunes the demo
  model on every saved mask, in its own process as from the Draw step; the seconds it takes
  from start to finished, then the fine-tuned model's proposals as above;
* the latency of one proposal (one frame, model already loaded), as the Propose button sees it.

The demo experiment is used through a private copy (hard links) in a temporary folder, with a
private models/ folder holding a copy of models/demo: nothing is written into ``--data``.
Without ``--data`` a fresh demo is written first (about 30 s). The CPU may be shared: the load
average is printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from _common import demo_data  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="folder holding the demo experiment (default: write one)")
    parser.add_argument("--corrections", type=int, default=3,
                        help="most doubtful frames corrected per training pool before retraining")
    parser.add_argument("--epochs", type=int, help="retraining epochs (default: the Retrain button's)")
    parser.add_argument("--steps", type=int, help="retraining steps per epoch (default: the button's)")
    parser.add_argument("--batch-size", type=int, help="retraining batch size (default: the button's)")
    parser.add_argument("--learning-rate", type=float, help="retraining rate (default: the button's)")
    parser.add_argument("--pools", type=int, nargs="+", help="pools to score (default: validation pools)")
    return parser.parse_args(argv)


def private_roots(data: Path) -> Path:
    """A temporary data/ (the demo experiment, hard-linked) and models/ (models/demo copied),
    set in BLASTO_DATA / BLASTO_MODELS; returns the temporary folder."""
    root = Path(tempfile.mkdtemp(prefix="bench-propose-"))
    shutil.copytree(Path(data) / "demo", root / "data" / "demo", copy_function=os.link,
                    ignore=shutil.ignore_patterns("predictions"))
    shutil.copytree(REPO / "models" / "demo", root / "models" / "demo")
    os.environ["BLASTO_DATA"], os.environ["BLASTO_MODELS"] = str(root / "data"), str(root / "models")
    return root


def score(masks: dict, truth: np.ndarray) -> dict:
    """Mean Dice, mean |mask XOR truth| and mean truth area per frame of ``masks`` {frame: mask}."""
    from blasto.masks import dice

    frames = sorted(masks)
    dices = [dice(masks[f], truth[f]) for f in frames]
    changed = [np.count_nonzero(masks[f] ^ truth[f]) for f in frames]
    area = [np.count_nonzero(truth[f]) for f in frames]
    return {"frames": len(frames), "dice": float(np.mean(dices)), "dice_min": float(np.min(dices)),
            "changed": float(np.mean(changed)), "area": float(np.mean(area)),
            "percent": 100.0 * float(np.sum(changed)) / max(float(np.sum(area)), 1.0)}


def merge(parts: list[dict]) -> dict:
    """Scores of several pools together (frame-weighted)."""
    frames = sum(p["frames"] for p in parts)
    weighted = {k: sum(p[k] * p["frames"] for p in parts) / frames for k in ("dice", "changed", "area")}
    return {"frames": frames, **weighted, "dice_min": min(p["dice_min"] for p in parts),
            "percent": 100.0 * weighted["changed"] / max(weighted["area"], 1.0)}


def line(label: str, s: dict) -> str:
    return (f"  {label:<34} Dice {s['dice']:.4f} (min {s['dice_min']:.3f}), changed "
            f"{s['changed']:7.1f} px/frame of {s['area']:7.1f} from scratch = {s['percent']:5.2f} %"
            f"  ({s['frames']} frames)")


def model_scores(experiment, pools, model, truths) -> dict:
    from blasto.annotate.propose import load_predictor, propose_masks

    predictor = load_predictor(model)
    parts = []
    for pool in pools:
        frames = list(range(experiment.n_frames(pool)))
        proposals = propose_masks(experiment, pool, frames, model=model, predictor=predictor)
        parts.append(score({p.frame: p.mask for p in proposals}, truths[pool]))
    return merge(parts)


def keyframe_scores(experiment, pools, truths) -> tuple[dict, dict]:
    """(copy-previous, interpolation) scores on the frames between saved keyframes."""
    from blasto.annotate.interpolate import interpolate_pool
    from blasto.annotate.propose import saved_masks

    copies, between = [], []
    for pool in pools:
        saved = saved_masks(experiment, pool)
        interpolated = {p.frame: p.mask for p in interpolate_pool(experiment, pool)}
        keys = sorted(saved)
        copied = {f: saved[max(k for k in keys if k < f)] for f in interpolated}
        copies.append(score(copied, truths[pool]))
        between.append(score(interpolated, truths[pool]))
    return merge(copies), merge(between)


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with demo_data(args.data) as data:
        root = private_roots(data)
        try:
            return run(args, root)
        finally:
            shutil.rmtree(root, ignore_errors=True)


def run(args, root: Path) -> int:
    from blasto.annotate.propose import load_predictor, model_path, propose_masks
    from blasto.annotate.retrain import RETRAIN_EPOCHS, RETRAIN_STEPS_PER_EPOCH, start_retrain
    from blasto.annotate.uncertainty import frames_to_check
    from blasto.store.experiment import open_experiment

    experiment = open_experiment("demo")
    split = experiment.manifest.split
    pools = args.pools or split.validation
    truths = {pool: experiment.read_truth(pool) for pool in experiment.pool_numbers}
    demo = model_path(experiment, "demo")
    every = experiment.manifest.annotation.every
    print(f"demo: {len(experiment.pool_numbers)} pools x {experiment.n_frames()} frames, saved masks every "
          f"{every} frames; scored on pools {', '.join(map(str, pools))}, every frame")

    print("\nProposals against the truth (changed = |proposal XOR truth|, from scratch = truth area):")
    before = model_scores(experiment, pools, demo, truths)
    print(line("model demo (shipped)", before), flush=True)
    copied, interpolated = keyframe_scores(experiment, pools, truths)
    print(line(f"copy previous keyframe ({every} apart)", copied))
    print(line(f"interpolated ({every} apart)", interpolated), flush=True)

    predictor = load_predictor(demo)
    propose_masks(experiment, pools[0], [1], model=demo, predictor=predictor)  # traced once
    t0 = time.perf_counter()
    for frame in range(2, 12):
        propose_masks(experiment, pools[0], [frame], model=demo, predictor=predictor)
    print(f"  one proposal (one frame, model loaded): {(time.perf_counter() - t0) / 10 * 1000:.0f} ms")

    # -- one retraining round from corrections ---------------------------------------------------
    from blasto.train.number_format import choose_mixed_precision

    t0 = time.perf_counter()
    mixed, reason = choose_mixed_precision()  # once per machine; every later run reads it
    print(f"\nprecision (auto, measured once per machine, {time.perf_counter() - t0:.1f} s): "
          f"{'bfloat16' if mixed else 'float32'}: {reason}")
    corrected = 0
    t0 = time.perf_counter()
    for pool in split.train:
        for doubt in frames_to_check(experiment, pool, model=demo)[: args.corrections]:
            experiment.write_mask(pool, doubt.frame, truths[pool][doubt.frame])  # the correction
            corrected += 1
    print(f"ranked the training pools' frames by doubt and corrected {corrected} "
          f"({args.corrections} per pool) in {time.perf_counter() - t0:.1f} s")
    options = {k: v for k, v in (("epochs", args.epochs), ("steps_per_epoch", args.steps),
                                 ("batch_size", args.batch_size), ("learning_rate", args.learning_rate)) if v}
    t0 = time.perf_counter()
    run = start_retrain(experiment, model=demo, **options)
    while True:  # a fresh view each time: a Run caches what it read
        run = run.reload()
        if run.status.state not in ("starting", "running") and not run.active:
            break
        time.sleep(0.5)
    seconds = time.perf_counter() - t0
    status, best = run.status, run.best
    print(f"retrain round ({options.get('epochs', RETRAIN_EPOCHS)} epochs x "
          f"{options.get('steps_per_epoch', RETRAIN_STEPS_PER_EPOCH)} steps, batch {run.config.batch_size}, "
          f"rate {run.config.learning_rate:g}, "
          f"{status.precision}): {status.label} in {seconds:.1f} s from start to finished "
          f"(training {status.elapsed_s or 0:.1f} s); best val Dice {best.val_dice:.4f} at epoch {best.epoch}"
          if best else f"retrain round: {status.label} ({status.error}) in {seconds:.1f} s")
    if status.state != "finished":
        print((run.path / "train.log").read_text()[-2000:])
        return 1
    after = model_scores(experiment, pools, run.path, truths)
    print("\nProposals after one retraining round:")
    print(line("model demo (shipped)", before))
    print(line(f"fine-tuned ({run.name})", after))
    print(f"\nload average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
