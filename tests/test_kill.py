"""Kill -9 anywhere: ``crop``, ``clean``, ``import-masks``, ``predict`` and a mask save, each
killed with SIGKILL at several seeded moments (after a seeded number of progress updates, or a
seeded time), on a small synthetic plate.

After each kill: the experiment opens; every file is either as it was before the command or
as a complete run leaves it (compared by hash with a reference run: nothing torn under its real
name, nothing complete damaged); and running the command again finishes the job, leaving what
the reference run left. Training's own SIGKILL test is in test_training.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
#: Kill moments per command (predict loads TensorFlow in each process: fewer).
KILLS = {"crop": 2, "clean": 2, "import-masks": 3, "mask-save": 3, "predict": 2}
#: The figures for the README: how many kills the tests below make.
KILL_MOMENTS = sum(KILLS.values())


def write_plate(path: Path) -> None:
    """A 128x128, 20-frame plate: a 4x4 grid of bright round pools with a dark cell each, one
    frame every 10 minutes (predict's collapse events need the interval)."""
    import tifffile

    yy, xx = np.mgrid[:128, :128]
    # A noisy dark plate, so the cleaning tolerance matters.
    frames = np.random.default_rng(0).integers(10, 60, (20, 128, 128)).astype(np.uint8)
    for t in range(20):
        for r in range(4):
            for c in range(4):
                d2 = (yy - 16 - 32 * r) ** 2 + (xx - 16 - 32 * c) ** 2
                frames[t][d2 < 13 ** 2] = 180
                frames[t][d2 < (4 + (t + r + c) % 5) ** 2] = 90
    tifffile.imwrite(path, frames, metadata={"frame_interval_s": 600.0})


#: JSON keys holding a clock time (they differ between two runs of the same command).
CLOCK_KEYS = {"created", "saved", "updated", "started"}


def _normal_json(value, root: str):
    if isinstance(value, dict):
        return {k: _normal_json(v, root) for k, v in value.items() if k not in CLOCK_KEYS}
    if isinstance(value, list):
        return [_normal_json(v, root) for v in value]
    return value.replace(root, "DATA") if isinstance(value, str) else value


def snapshot(root: Path) -> dict[str, str]:
    """sha1 of every file under ``root`` (hidden temporary files of killed writes left out).
    A JSON file is hashed by its content without clock times and with ``root`` as ``DATA``
    (it names paths in its own copy); one that does not parse is "torn"."""
    hashes = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not path.is_file() or any(part.startswith(".") for part in relative.parts):
            continue
        data = path.read_bytes()
        if path.suffix == ".json":
            try:
                data = json.dumps(_normal_json(json.loads(data), str(root)), sort_keys=True).encode()
            except ValueError:
                hashes[relative.as_posix()] = "torn"
                continue
        hashes[relative.as_posix()] = hashlib.sha1(data).hexdigest()
    return hashes


class Bench:
    """A data folder with a plate movie, a lab folder and a tiny model; runs the CLI on copies."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.inputs = tmp / "inputs"
        self.inputs.mkdir()
        write_plate(self.inputs / "plate.tif")
        self.copies = 0

    def env(self, data: Path) -> dict:
        return {**os.environ, "BLASTO_DATA": str(data), "BLASTO_MODELS": str(self.inputs / "models"),
                "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}

    def copy(self, data: Path) -> Path:
        self.copies += 1
        target = self.tmp / f"copy{self.copies}" / "data"
        shutil.copytree(data, target, symlinks=True)
        return target

    def run(self, args, data: Path) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, *args], cwd=self.tmp, env=self.env(data),
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done

    def kill(self, args, data: Path, *, after_updates: int | None = None,
             after_s: float | None = None) -> bool:
        """Start ``args`` and SIGKILL it after that many progress updates (``\\r`` or newline
        on its output) or seconds; False when it finished first."""
        process = subprocess.Popen([sys.executable, *args], cwd=self.tmp, env=self.env(data),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        updates, start = 0, time.monotonic()
        try:
            while True:
                if after_s is not None and time.monotonic() - start >= after_s:
                    break
                ready, _, _ = select.select([process.stdout], [], [], 0.005)
                if ready:
                    chunk = os.read(process.stdout.fileno(), 65536)
                    if not chunk:  # the process ended before the moment came
                        process.wait(timeout=30)
                        return False
                    updates += chunk.count(b"\r") + chunk.count(b"\n")
                    if after_updates is not None and updates >= after_updates:
                        break
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            return process.returncode == -signal.SIGKILL
        finally:
            process.stdout.close()
            if process.poll() is None:
                process.kill()
                process.wait()


def check_kills(bench: Bench, name: str, args, before: Path, *, seed: int, experiment="k",
                timed=False):
    """Kill ``args`` on copies of ``before`` at seeded moments; check each as the module says.

    Moments are drawn among the progress updates a whole run prints, or with ``timed`` in
    time over a whole run's duration.
    """
    from blasto.store.experiment import Experiment

    rng = random.Random(f"{seed}-{name}")
    old = snapshot(before)
    reference = bench.copy(before)
    start = time.monotonic()
    output = bench.run(args(reference), reference).stdout
    duration = time.monotonic() - start
    updates = output.count("\r") + output.count("\n")
    new = snapshot(reference)
    rewritten = {f for f in old if new.get(f) != old[f]}
    killed = 0
    # Distinct moments: among the progress updates (and just after the last), or in time over
    # the later part of a run (the first half is mostly Python starting).
    moments = ([{"after_s": rng.uniform(0.6, 1.0) * duration} for _ in range(KILLS[name])] if timed
               else [{"after_updates": n} for n in sorted(rng.sample(range(1, updates + 2), KILLS[name]))])
    for moment in moments:
        data = bench.copy(before)
        was_killed = bench.kill(args(data), data, **moment)
        killed += was_killed
        state = snapshot(data)
        if os.environ.get("BLASTO_KILL_TRACE"):
            same = sum(state.get(f) == h for f, h in new.items())
            print(f"{name} {moment}: killed={was_killed}, {same}/{len(new)} files as a whole run leaves them")
        if (data / experiment).exists():
            Experiment(data / experiment).summary()  # opens
        # A JSON file may be rewritten on the way (the manifest after cropping, then after
        # cleaning): it must parse. Any other file is as before or as a whole run leaves it.
        torn = [f for f, h in state.items()
                if h == "torn" or (not f.endswith(".json") and h not in (old.get(f), new.get(f)))]
        assert not torn, f"{name} killed at {moment}: files neither as before nor complete: {torn}"
        lost = [f for f in old if f not in state and f not in rewritten]
        assert not lost, f"{name} killed at {moment}: files lost: {lost}"
        bench.run(args(data), data)
        assert snapshot(data) == new, f"{name} killed at {moment}, then run again"
    assert killed >= 1  # at least one moment landed inside the command
    return reference


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return Bench(tmp_path_factory.mktemp("kill"))


def crop_args(bench):
    return lambda data: ["-m", "blasto", "crop", str(bench.inputs / "plate.tif"), "--experiment", "k",
                         "--grid", "0,0,128,128", "--size", "32"]


@pytest.fixture(scope="module")
def cropped(bench):
    """A data folder holding experiment ``k``, cropped and cleaned."""
    data = bench.tmp / "cropped" / "data"
    data.mkdir(parents=True)
    bench.run(crop_args(bench)(data), data)
    return data


def test_crop_and_clean_survive_sigkill(bench, cropped):
    empty = bench.tmp / "empty" / "data"
    empty.mkdir(parents=True)
    # Crop into a new experiment: 20 frames cropped, 320 frames cleaned (progress bars).
    check_kills(bench, "crop", crop_args(bench), empty, seed=0)
    # Clean again with another tolerance.
    check_kills(bench, "clean", lambda d: ["-m", "blasto", "clean", "--experiment", "k", "--tolerance", "12"],
                cropped, seed=1)


def test_import_masks_and_a_mask_save_survive_sigkill(bench, cropped):
    from blasto.store.atomic import write_png

    data = bench.tmp / "import" / "data"
    data.mkdir(parents=True)
    lab = bench.inputs / "lab"
    rng = np.random.default_rng(3)
    for side, count in (("train", 24), ("validation", 12)):
        for i in range(count):
            image = rng.integers(0, 255, (32, 32), dtype=np.uint8)
            mask = np.full((32, 32), 255, np.uint8)
            mask[8:8 + i % 12, 6:20] = 0
            write_png(lab / side / f"e{i:02d}_x.png", image)
            write_png(lab / side / f"e{i:02d}_y.png", mask)
    check_kills(bench, "import-masks",
                lambda d: ["-m", "blasto", "import-masks", str(lab), "--experiment", "k", "--size", "32"],
                data, seed=2, timed=True)

    # A mask save: the experiment's mask write, frame after frame, as the Annotate page saves.
    script = ("import sys, numpy as np\n"
              "from blasto.store.experiment import open_experiment\n"
              "e = open_experiment('k')\n"
              "for f in range(20):\n"
              "    cell = np.zeros((32, 32), bool); cell[4:4 + f, 3:25] = True\n"
              "    e.write_mask(1, f, cell); print(f, flush=True)\n")
    check_kills(bench, "mask-save", lambda d: ["-c", script], cropped, seed=3)


def test_predict_survives_sigkill(bench, cropped):
    from blasto.model.unet import build_unet

    model = bench.inputs / "models" / "tiny"
    model.mkdir(parents=True)
    build_unet(input_size=32, start_filters=2, dropout=False).save(model / "model.keras")
    before = cropped

    def predict(data):
        return ["-m", "blasto", "predict", "--experiment", "k", "--model", "tiny", "--pools", "1", "2",
                "3", "--out", str(data / "results")]

    # Moments among the prediction and writing progress updates, and the last lines.
    check_kills(bench, "predict", predict, before, seed=4)
