"""What several bench scripts share: the machine's matmul peak, a U-Net's forward FLOPs, the peak
resident memory, and the demo experiment to measure on.

The scripts run as ``.venv/bin/python bench/bench_x.py``, so this folder is on ``sys.path`` and
they import this module as ``_common``. TensorFlow and blasto are imported inside the functions
that need them: importing this module stays cheap (``--help``, the memory benchmark's children).
"""

from __future__ import annotations

import contextlib
import resource
import shutil
import tempfile
import time
from pathlib import Path


def peak_rss_mb() -> float:
    """Peak resident memory (RSS) of this process so far, in MB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def matmul_peak(dtype, *, n: int = 2048, repeats: int = 30, seconds: float | None = None) -> float:
    """Best GFLOP/s of an n x n matmul in ``dtype`` (a name such as "bfloat16" or a tf.DType).

    Tries ``repeats`` times, or for ``seconds`` of wall time when given (a machine-independent
    budget); the best try saw the least contention from other work on a shared machine. No try
    at all gives 0.0.
    """
    import tensorflow as tf

    # The values do not change the speed: uniform in float32, then cast (bfloat16 has no RNG).
    a = tf.cast(tf.random.uniform((n, n), dtype=tf.float32), tf.as_dtype(dtype))
    matmul = tf.function(lambda x: tf.matmul(x, x))
    matmul(a).numpy()  # trace and warm up, untimed
    best, start, tries = float("inf"), time.perf_counter(), 0
    while (time.perf_counter() - start < seconds) if seconds is not None else tries < repeats:
        t0 = time.perf_counter()
        matmul(a).numpy()
        best = min(best, time.perf_counter() - t0)
        tries += 1
    return 2 * n**3 / best / 1e9  # 0.0 when best is still inf


def forward_flops(model) -> float:
    """FLOPs of one image's forward pass: 2 per multiply-add of the convolutions and transposed
    convolutions (the rest of a U-Net is negligible)."""
    import keras

    total = 0  # an int: exact, whatever the order of the layers
    for layer in model.layers:
        # Conv2DTranspose first: test it before its look-alike, whatever the class hierarchy.
        if isinstance(layer, keras.layers.Conv2DTranspose):
            kh, kw, cout, cin = layer.kernel.shape
            _, h, w, _ = layer.input.shape  # every input pixel is spread over kh x kw outputs
            total += 2 * h * w * kh * kw * cin * cout
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += 2 * h * w * kh * kw * cin * cout
    return float(total)


@contextlib.contextmanager
def demo_data(data=None, *, prefix: str = "bench-", keep: bool = False,
              message: str = "writing the demo into {folder} ..."):
    """The folder holding the demo experiment: ``data`` (the script's ``--data``) when given,
    else a fresh temporary folder the demo is written into first (``message`` is printed, with
    ``{folder}`` filled in), removed on exit unless ``keep``."""
    if data is not None:
        yield Path(data)
        return
    from blasto.demo import write_demo

    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        print(message.format(folder=folder), flush=True)
        write_demo(folder)
        yield folder
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
