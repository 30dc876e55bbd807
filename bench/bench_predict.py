"""Prediction speed and memory: prints figures, asserts nothing.

    .venv/bin/python bench/bench_predict.py [--data DIR] [--pools 1 2 ...] [--naive-frames 24]

For the default-size U-Net (32 start filters, 8.6 M parameters, untrained weights: speed does
not depend on them) and the shipped demo model (models/demo), side by side:

* frames/s predicting the demo plate's pools with blasto's Predictor (one tf.function,
  fixed-shape batches) at several batch sizes, and with bfloat16 compute;
* frames/s of the naive loop: ``model.predict`` on one frame at a time;
* achieved GFLOP/s (forward-pass FLOPs counted from the layer shapes) against the measured
  float32 and bfloat16 matmul peaks of this CPU; the machine may be shared, so each timed run
  also measures the float32 matmul peak just before and after it ("% local": the same load);
* peak resident memory of each configuration (each runs in its own process);
* time to reopen a cached pool (np.load with a memory map) and to measure it (threshold,
  fill holes, objects, areas) - what a threshold change on the Review page costs;
* the whole plate, today's way against the new, in the same run: predicting every frame
  (float32 at batch 4 against the Predictor's default: precision "auto", measured once per
  machine, bfloat16 at batch 8 where faster) and re-measuring all 16 predicted pools after a
  threshold change (full frames one pool after another against blasto.review.areas.masks_of_pools:
  the cells' window only, pools in threads).

The demo plate is written to a temporary folder unless ``--data`` names a folder that holds
the demo experiment (``python -m blasto demo DIR``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# This script's folder is on sys.path when it runs as a script (the --worker children too);
# bench_train shares these.
from _common import demo_data, forward_flops, matmul_peak, peak_rss_mb  # noqa: E402


def load_frames(data: Path, pools):
    import numpy as np

    from blasto.store.experiment import open_experiment

    experiment = open_experiment("demo", root=data)
    pools = pools or experiment.pool_numbers
    return np.concatenate([np.asarray(experiment.read_pool_movie(p)) for p in pools])


def build(kind: str, bf16: bool):
    """The model of ``kind`` ('default' or 'demo'), optionally cloned to bfloat16 compute."""
    from blasto.model.files import load_model
    from blasto.model.unet import build_unet

    if kind == "default":
        model = build_unet(input_size=256, start_filters=32, dropout=True)
    else:
        model = load_model(REPO / "models" / "demo")
    if bf16:
        import keras

        first = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
        twin = build_unet(input_size=256, start_filters=first.filters, dropout=False, mixed_precision=True)
        twin.set_weights(model.get_weights())  # dropout layers hold no weights
        return twin, model
    return model, None


def worker(args) -> dict:
    """One configuration in this process: time it, measure peak memory, print JSON."""
    import numpy as np

    from blasto.model.inference import Predictor

    frames = load_frames(Path(args.data), args.pools)
    if args.max_frames:
        frames = frames[: args.max_frames]
    model, reference = build(args.kind, args.mode == "bf16")
    result = {"kind": args.kind, "mode": args.mode, "batch": args.batch,
              "params": model.count_params(), "gflop_per_frame": forward_flops(model) / 1e9,
              "rss_before_mb": peak_rss_mb()}  # TensorFlow, the model and the frames, before predicting
    if args.mode == "naive":
        frames = frames[: args.naive_frames]
        x = frames[..., None].astype(np.float32) / 255.0
        model.predict(x[:1], verbose=0)  # build the predict function once, as a user's loop would
        start = time.perf_counter()
        for i in range(len(x)):
            model.predict(x[i:i + 1], verbose=0)
        elapsed = time.perf_counter() - start
    else:
        # "auto": the Predictor's default (the machine's faster precision and its batch size);
        # else float32 as asked (a bf16 twin built above computes in bfloat16 as it is).
        if args.mode == "auto":
            predictor = Predictor(model, precision="auto")
            result["precision"], result["batch"] = predictor.describe(), predictor.batch_size
        else:
            predictor = Predictor(model, batch_size=args.batch, precision="float32")
        predictor(frames[: predictor.batch_size])  # trace once
        # The CPU is shared: measure the matmul peak right before and after, under the same load.
        before = matmul_peak("float32", seconds=2.0)
        start = time.perf_counter()
        out = predictor(frames)
        elapsed = time.perf_counter() - start
        result["local_peak_gflops"] = (before + matmul_peak("float32", seconds=2.0)) / 2
        if reference is not None:  # bf16 against float32 on the same frames
            check = Predictor(reference, batch_size=args.batch, precision="float32")(frames[:16]).astype(int)
            result["max_abs_diff_vs_fp32_of_255"] = int(np.abs(check - out[:16].astype(int)).max())
            result["mean_abs_diff_vs_fp32_of_255"] = float(np.abs(check - out[:16].astype(int)).mean())
    result.update(frames=len(frames), seconds=elapsed, fps=len(frames) / elapsed,
                  gflops=len(frames) * result["gflop_per_frame"] / elapsed, peak_rss_mb=peak_rss_mb())
    return result


def run_worker(data, kind, mode, batch, pools, naive_frames, max_frames=0) -> dict:
    command = [sys.executable, __file__, "--worker", "--data", str(data), "--kind", kind, "--mode", mode,
               "--batch", str(batch), "--naive-frames", str(naive_frames), "--max-frames", str(max_frames)]
    if pools:
        command += ["--pools", *map(str, pools)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        return {"kind": kind, "mode": mode, "batch": batch, "error": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def cached_reopen(data: Path) -> dict:
    """Time reopening a cached pool and measuring it, with the demo model's cache."""
    import numpy as np

    from blasto.review.areas import PostProcessing
    from blasto.store.experiment import open_experiment
    from blasto.review.predictions import predict_pool
    from blasto.review.charts import pool_results

    experiment = open_experiment("demo", root=data)
    pool = experiment.pool_numbers[0]
    model = REPO / "models" / "demo"
    predict_pool(experiment, pool, model_path=model)  # make sure it is cached
    experiment = open_experiment("demo", root=data)  # a fresh page session
    start = time.perf_counter()
    probabilities = predict_pool(experiment, pool, model_path=model)
    reopen = time.perf_counter() - start
    start = time.perf_counter()
    np.asarray(probabilities).sum()  # touch every byte
    touch = time.perf_counter() - start
    start = time.perf_counter()
    pool_results(experiment, pool, probabilities, post=PostProcessing())
    measure = time.perf_counter() - start
    return {"frames": len(probabilities), "reopen_s": reopen, "read_all_s": touch, "measure_s": measure}


def remeasure_plate(data: Path) -> dict:
    """Seconds to re-measure all pools of the demo (its model's cached predictions) after a
    threshold change: today's way (every full frame, one pool after another) and the new one."""
    import numpy as np

    from blasto.masks import cell_mask
    from blasto.review.areas import PostProcessing, _postprocess, masks_of_pools
    from blasto.review.predictions import predict_pools
    from blasto.store.experiment import open_experiment

    experiment = open_experiment("demo", root=data)
    probabilities = predict_pools(experiment, model_path=REPO / "models" / "demo")  # cached once
    probabilities = {pool: np.asarray(p) for pool, p in probabilities.items()}
    post = PostProcessing(threshold=0.7)
    best_old = best_new = float("inf")
    for _ in range(3):  # best of 3: the machine is shared
        start = time.perf_counter()
        old = {pool: _postprocess(cell_mask(p, threshold=post.threshold), fill=post.fill_holes, keep=post.keep,
                                  min_size=post.min_size, disc=None) for pool, p in probabilities.items()}
        best_old = min(best_old, time.perf_counter() - start)
        start = time.perf_counter()
        new = masks_of_pools(probabilities, post=post)
        best_new = min(best_new, time.perf_counter() - start)
    same = all(np.array_equal(old[pool], new[pool]) for pool in old)
    return {"pools": len(probabilities), "old_s": best_old, "new_s": best_new, "same": same}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="folder holding the demo experiment (default: write one)")
    parser.add_argument("--pools", type=int, nargs="+", help="pools to predict (default: all 16)")
    parser.add_argument("--naive-frames", type=int, default=24, help="frames for the naive loop")
    parser.add_argument("--batch", type=int, default=4, help="batch size of the whole-plate run (default 4)")
    parser.add_argument("--sweep", type=int, nargs="*", default=[1, 8],
                        help="other batch sizes to try (and bf16 at the largest), on --sweep-frames frames")
    parser.add_argument("--sweep-frames", type=int, default=144, help="frames for the sweep (default 144)")
    parser.add_argument("--skip-default", action="store_true", help="only the demo model")
    parser.add_argument("--plate-only", action="store_true",
                        help="only the whole plate, today's way against the new (prediction and re-measuring)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kind", default="default", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="fp32", help=argparse.SUPPRESS)
    parser.add_argument("--max-frames", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return

    # Without --data the demo is written into a temporary folder, removed at the end.
    with demo_data(args.data or None, prefix="bench-predict-", message="writing the demo plate ...") as data:
        measure(data, args)


def measure(data: Path, args):
    """Everything main prints, on the demo experiment in ``data``."""
    import tensorflow as tf

    print(f"CPU cores: {os.cpu_count()}, TensorFlow {tf.__version__}, "
          f"intra-op threads: {tf.config.threading.get_intra_op_parallelism_threads() or 'default (all cores)'}")
    if not args.plate_only:
        peaks = {dtype: matmul_peak(dtype, seconds=3.0) for dtype in ("float32", "bfloat16")}
        print(f"measured matmul peak (2048x2048, best of 3 s): float32 {peaks['float32']:.0f} GFLOP/s, "
              f"bfloat16 {peaks['bfloat16']:.0f} GFLOP/s", flush=True)

        kinds = ["demo"] if args.skip_default else ["default", "demo"]
        configurations = []
        for kind in kinds:
            configurations.append((kind, "fp32", args.batch, 0))  # the whole plate (or --pools)
            configurations += [(kind, "fp32", b, args.sweep_frames) for b in args.sweep]
            configurations.append((kind, "bf16", max([args.batch, *args.sweep]), args.sweep_frames))
            configurations.append((kind, "naive", 1, 0))
        header = (f"{'model':8} {'mode':6} {'batch':>5} {'frames':>6} {'frames/s':>9} {'GFLOP/s':>8} "
                  f"{'% peak':>7} {'% local':>7} {'peak RSS (+predicting)':>22}")
        print(header)
        print("-" * len(header))
        for kind, mode, batch, max_frames in configurations:
            r = run_worker(data, kind, mode, batch, args.pools, args.naive_frames, max_frames)
            if "error" in r:
                print(f"{kind:8} {mode:6} {batch:>5}  failed: {r['error']}")
                continue
            extra = ""
            if "max_abs_diff_vs_fp32_of_255" in r:
                extra = (f"  bf16 vs fp32 probabilities: max {r['max_abs_diff_vs_fp32_of_255']}/255, "
                         f"mean {r['mean_abs_diff_vs_fp32_of_255']:.2f}/255")
            local = f"{100 * r['gflops'] / r['local_peak_gflops']:>6.0f}%" if "local_peak_gflops" in r else f"{'-':>7}"
            print(f"{kind:8} {mode:6} {batch:>5} {r['frames']:>6} {r['fps']:>9.2f} {r['gflops']:>8.1f} "
                  f"{100 * r['gflops'] / peaks['float32']:>6.0f}% {local} {r['peak_rss_mb']:>12.0f} MB (+{r['peak_rss_mb'] - r['rss_before_mb']:.0f})"
                  f"   ({r['params']:,} params, {r['gflop_per_frame']:.2f} GFLOP/frame){extra}", flush=True)

    print("whole plate, today's way against the new (same run):", flush=True)
    plate = {}
    for mode in ("fp32", "auto"):
        plate[mode] = r = run_worker(data, "default", mode, 4, args.pools, args.naive_frames)
        if "error" in r:
            print(f"  {mode}: failed: {r['error']}")
    if "error" not in plate["fp32"] and "error" not in plate["auto"]:
        print(f"  predict {plate['fp32']['frames']} frames, default {plate['fp32']['params']:,}-parameter U-Net: "
              f"today float32 batch 4 {plate['fp32']['fps']:.2f} frames/s; new {plate['auto']['precision']} "
              f"{plate['auto']['fps']:.2f} frames/s ({plate['auto']['fps'] / plate['fp32']['fps']:.2f}x)", flush=True)
    again = remeasure_plate(data)
    print(f"  re-measure all {again['pools']} pools after a threshold change: today {again['old_s']:.2f} s, "
          f"new {again['new_s']:.2f} s ({again['old_s'] / again['new_s']:.1f}x, same masks: {again['same']})", flush=True)

    if args.plate_only:
        return
    reopen = cached_reopen(data)
    print(f"cached pool ({reopen['frames']} frames): reopen {1000 * reopen['reopen_s']:.1f} ms, "
          f"read every byte {1000 * reopen['read_all_s']:.1f} ms, threshold + post-processing + areas "
          f"{1000 * reopen['measure_s']:.0f} ms")


if __name__ == "__main__":
    main()
