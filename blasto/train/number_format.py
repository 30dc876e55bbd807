"""Which precision trains the U-Net faster on this machine: float32 or mixed bfloat16.

bfloat16 runs several times faster than float32 on GPUs and on CPUs with AMX, and about 1.5x
faster on some CPUs with AVX512-BF16 (the lab's Zen 4); on others (e.g. Xeons whose AMX is not
exposed) oneDNN's bfloat16 kernels are slower than its float32 ones. CPU flags do not tell
these apart, so "auto" times a short training step of the U-Net in both precisions once per
machine and remembers the answer in the user's cache folder.

Accuracy is not at stake: on the demo, blasto's defaults in mixed bfloat16 reached the same
validation Dice after 600 steps as in float32 (``bench/bench_train.py --accuracy-config``).
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from blasto.store import atomic

#: bfloat16 must be at least this much faster to be chosen (timings on a busy machine wobble).
MIN_SPEEDUP = 1.15
CACHE_FILE = "precision.json"


def cache_path() -> Path:
    """Where the measured choice is kept: ``$XDG_CACHE_HOME/blasto`` (``~/.cache/blasto``)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "blasto" / CACHE_FILE


def machine_signature() -> str:
    """What the answer depends on: processor, its bfloat16/AMX flags, TensorFlow and GPUs."""
    import tensorflow as tf

    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = {f for f in value.split() if "bf16" in f or f.startswith("amx")}
                break
    except OSError:
        pass
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return f"{model} | {' '.join(sorted(flags))} | tensorflow {tf.__version__} | gpus {gpus}"


def time_training_step(*, mixed_precision: bool, input_size=128, start_filters=32, batch_size=2,
                       steps=3) -> float:
    """Best seconds per training step of the U-Net (all its layer widths, a smaller image)."""
    import keras
    import numpy as np

    from blasto.model.unet import build_unet

    model = build_unet(input_size=input_size, start_filters=start_filters, dropout=False,
                       mixed_precision=mixed_precision)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    images = rng.random((batch_size, input_size, input_size, 1), dtype=np.float32)
    masks = (rng.random(images.shape) > 0.5).astype(np.float32)
    model.train_on_batch(images, masks)  # traces the step
    best = float("inf")
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(images, masks)
        best = min(best, time.perf_counter() - start)
    return best


def choose_mixed_precision(*, measure=time_training_step, path=None) -> tuple[bool, str]:
    """``(use mixed bfloat16?, a sentence saying why)``, measured once per machine.

    ``measure(mixed_precision=...)`` returns seconds per step (replaceable for tests).
    """
    path = Path(path) if path else cache_path()
    signature = machine_signature()
    try:
        cached = json.loads(path.read_text())
        if cached.get("signature") == signature:
            return bool(cached["mixed_precision"]), cached["reason"]
    except (OSError, ValueError, KeyError, AttributeError):
        pass  # no answer yet for this machine, or an unreadable one: measure again
    float32 = measure(mixed_precision=False)
    bfloat16 = measure(mixed_precision=True)
    speedup = float32 / bfloat16
    mixed = speedup >= MIN_SPEEDUP
    reason = (f"{'mixed bfloat16' if mixed else 'float32'}: a training step measured "
              f"{speedup:.2f}x as fast in bfloat16 as in float32 on this machine")
    try:
        atomic.write_json(path, {"signature": signature, "mixed_precision": mixed,
                                 "float32_s": float32, "bfloat16_s": bfloat16, "reason": reason})
    except OSError:
        pass  # a read-only home: measure again next time
    return mixed, reason
