"""A bounded, seeded fuzz loop over every reader and parser blasto has for outside files.

Each *group* builds one small valid file (a GIF, a TIFF, a lab folder, a manifest, ...),
derives mutated copies from it with seeded mutators (bit flips, truncation, header fields
edited, huge declared sizes, JSON values of the wrong type) and hands each copy to the
reader. A case passes when the reader either accepts the file or raises a ``BlastoError``
whose message names the file; anything else (another exception type, a case running past
its time limit) is a crash.

``tests/test_fuzz.py`` runs every group in the suite; ``python tests/fuzzing.py`` runs them
and prints the figures (cases, accepted, refused, crashes, peak memory)::

    .venv/bin/python tests/fuzzing.py [--cases-scale 1.0] [--seed 0]
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import random
import resource
import shutil
import signal
import struct
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

# Run as a script: make ``blasto`` and the tests' ``synthetic`` importable.
for _folder in (Path(__file__).resolve().parents[1], Path(__file__).resolve().parent):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from blasto.errors import BlastoError  # noqa: E402

#: Seconds one case may take before it counts as a hang.
CASE_SECONDS = 10.0


class CaseTimeout(BaseException):
    """Raised by the alarm inside a case that ran too long (a BaseException: readers that
    catch ``Exception`` must not swallow it)."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise :class:`CaseTimeout` in the main thread after ``seconds``."""
    def alarm(signum, frame):
        raise CaseTimeout(f"no answer after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- mutators -------------------------------------------------------------------------------
def flip_bits(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))]


def edit_header(data: bytes, rng: random.Random) -> bytes:
    """Overwrite 1, 2 or 4 bytes in the first 64 (where sizes, counts and offsets live)."""
    out = bytearray(data)
    width = rng.choice((1, 2, 4))
    i = rng.randrange(max(1, min(64, len(out) - width)))
    value = rng.choice((0, 1, 0xFF, 0x7F, rng.randrange(256 ** width), 256 ** width - 1))
    out[i:i + width] = value.to_bytes(width, rng.choice(("little", "big")))[:len(out) - i]
    return bytes(out)


def huge_size(data: bytes, rng: random.Random) -> bytes:
    """Write a huge 16- or 32-bit number (a declared width, height, count or length) at a
    spot in the header."""
    out = bytearray(data)
    fmt = rng.choice(("<H", ">H", "<I", ">I"))
    size = struct.calcsize(fmt)
    i = rng.randrange(max(1, min(48, len(out) - size)))
    big = rng.choice((0xFFFF, 0xFFFF, 0x7FFF)) if "H" in fmt else rng.choice((0xFFFFFFFF, 0x7FFFFFFF, 0x10000000))
    out[i:i + size] = struct.pack(fmt, big)
    return bytes(out)


def zero_run(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    i = rng.randrange(len(out))
    n = rng.randint(1, 64)
    out[i:i + n] = bytes(len(out[i:i + n]))
    return bytes(out)


def duplicate_chunk(data: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(data))
    n = rng.randint(1, 256)
    return data[:i] + data[i:i + n] * rng.randint(2, 4) + data[i:]


BYTE_MUTATORS = (flip_bits, truncate, edit_header, huge_size, zero_run, duplicate_chunk)

_ODD_VALUES = (None, -1, 0, 10 ** 30, 10 ** 400, 1e308, float("nan"), float("inf"), "x", "",
               [], {}, [1, 2], {"a": 1}, True, "../../etc", 2 ** 63)


def edit_json_value(data: bytes, rng: random.Random) -> bytes:
    """Replace one value anywhere in a JSON document by a value of an odd type or size (a
    file edited by hand)."""
    try:
        document = json.loads(data)
    except ValueError:
        return flip_bits(data, rng)
    slots = []

    def walk(node):
        if isinstance(node, dict):
            for key in node:
                slots.append((node, key))
                walk(node[key])
        elif isinstance(node, list):
            for index in range(len(node)):
                slots.append((node, index))
                walk(node[index])

    walk(document)
    if not slots or rng.random() < 0.05:
        document = rng.choice(_ODD_VALUES)
    else:
        for _ in range(rng.randint(1, 3)):
            node, key = rng.choice(slots)
            with contextlib.suppress(IndexError, KeyError, TypeError):
                node[key] = rng.choice(_ODD_VALUES)
    # Python's json writes NaN/Infinity and numbers of any size, as a hand edit may.
    return json.dumps(document).encode()


JSON_MUTATORS = (edit_json_value, edit_json_value, edit_json_value, truncate, flip_bits)


def mutants(seed_data: bytes, count: int, rng: random.Random, mutators=BYTE_MUTATORS):
    """``count`` mutated copies of ``seed_data`` (label, bytes), the unmutated file first."""
    yield "original", seed_data
    for n in range(count - 1):
        mutator = mutators[n % len(mutators)] if n < len(mutators) else rng.choice(mutators)
        data = seed_data
        for _ in range(rng.choice((1, 1, 1, 2))):
            data = mutator(data, rng) if data else data
        yield mutator.__name__, data


# -- seed files -----------------------------------------------------------------------------
def _frames(n=6, h=24, w=32, seed=0, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 255, (n, h, w))
    return frames.astype(dtype)


def gif_bytes() -> bytes:
    from PIL import Image

    frames = [Image.fromarray(f) for f in _frames()]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def tiff_bytes(kind: str) -> bytes:
    import tifffile

    buffer = io.BytesIO()
    if kind == "8bit":
        tifffile.imwrite(buffer, _frames(), imagej=True, metadata={"finterval": 60, "axes": "TYX"})
    elif kind == "16bit":
        tifffile.imwrite(buffer, _frames(dtype=np.uint16) * 200, imagej=True, metadata={"axes": "TYX"})
    elif kind == "float":
        data = _frames().astype(np.float32) / 255.0
        tifffile.imwrite(buffer, data)
    elif kind == "5d":
        data = np.random.default_rng(1).integers(0, 255, (2, 3, 1, 16, 16), dtype=np.uint8)
        tifffile.imwrite(buffer, data, imagej=True, metadata={"axes": "TZCYX"})
    elif kind == "1page":
        tifffile.imwrite(buffer, _frames(1)[0])
    elif kind == "compressed":
        tifffile.imwrite(buffer, _frames(), compression="zlib")
    else:
        raise ValueError(kind)
    return buffer.getvalue()


def video_bytes(suffix: str) -> bytes:
    import imageio_ffmpeg

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "v" + suffix)
        codec = "libx264" if suffix == ".mp4" else "mjpeg"
        writer = imageio_ffmpeg.write_frames(str(path), (32, 32), pix_fmt_in="gray", fps=5,
                                             codec=codec, macro_block_size=1,
                                             output_params=["-loglevel", "quiet"])
        writer.send(None)
        for frame in _frames(5, 32, 32):
            writer.send(np.ascontiguousarray(frame))
        writer.close()
        return path.read_bytes()


def png_bytes(array) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array)).save(buffer, format="PNG")
    return buffer.getvalue()


def xlsx_bytes() -> bytes:
    import pandas as pd

    buffer = io.BytesIO()
    pd.DataFrame({"frame": [0, 3, 6, 9], "area": [100.0, 120.5, 90.0, 95.0]}).to_excel(buffer, index=False)
    return buffer.getvalue()


def junk_zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
        archive.writestr("[Content_Types].xml", "<Types")
    return buffer.getvalue()


# -- groups ---------------------------------------------------------------------------------
@dataclasses.dataclass
class Group:
    """One reader: how to build its cases under a folder, and how to open one."""

    name: str
    cases: int
    make: Callable  # (tmp: Path, rng) -> iterator of (label, path)
    open: Callable  # (path) -> None; raises BlastoError to refuse


@dataclasses.dataclass
class Outcome:
    group: str
    label: str
    result: str  # "accepted", "refused" or "crash"
    detail: str = ""
    seconds: float = 0.0


def _write_cases(tmp: Path, name: str, seed_data: bytes, count: int, rng, mutators=BYTE_MUTATORS):
    for n, (label, data) in enumerate(mutants(seed_data, count, rng, mutators)):
        path = tmp / f"case{n:03d}" / name
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        yield label, path


def _movie_cases(builder, name):
    def make(tmp, rng, count):
        return _write_cases(tmp, name, builder(), count, rng)
    return make


def open_and_iterate(path) -> None:
    from blasto.movies import open_movie

    with open_movie(path) as movie:
        for _ in movie:
            pass


def _folder_cases(tmp, rng, count):
    frames = _frames(4)
    seeds = [png_bytes(f) for f in frames]
    for n in range(count):
        folder = tmp / f"case{n:03d}" / "frames"
        folder.mkdir(parents=True)
        for i, data in enumerate(seeds):
            (folder / f"frame{i}.png").write_bytes(data)
        label = "original"
        if n:
            victim = folder / f"frame{rng.randrange(len(seeds))}.png"
            choice = rng.randrange(4)
            if choice == 0:  # a frame of another size
                victim.write_bytes(png_bytes(_frames(1, 10, 10)[0]))
                label = "other size"
            elif choice == 1:  # junk named .png
                victim.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randint(0, 200))))
                label = "junk"
            else:
                mutator = rng.choice(BYTE_MUTATORS)
                victim.write_bytes(mutator(victim.read_bytes(), rng))
                label = mutator.__name__
        yield label, folder


def _lab_folder(root: Path, size=16) -> None:
    rng = np.random.default_rng(2)
    for side in ("train", "validation"):
        (root / side).mkdir(parents=True)
        for i in range(2):
            image = rng.integers(0, 255, (size, size), dtype=np.uint8)
            mask = np.full((size, size), 255, np.uint8)
            mask[4:10, 4:10] = 0
            (root / side / f"img{i}_x.png").write_bytes(png_bytes(image))
            (root / side / f"img{i}_y.png").write_bytes(png_bytes(mask))


def _lab_png_cases(tmp, rng, count):
    for n in range(count):
        root = tmp / f"case{n:03d}" / "lab"
        _lab_folder(root)
        label = "original"
        if n:
            files = sorted(root.rglob("*.png"))
            victim = rng.choice(files)
            mutator = rng.choice(BYTE_MUTATORS)
            victim.write_bytes(mutator(victim.read_bytes(), rng))
            label = f"{mutator.__name__} {victim.name}"
        yield label, root


def open_lab_folder(path) -> None:
    from blasto.annotate.labdata import read_lab_folder

    read_lab_folder(path, size=16)


def _lab_zip_cases(tmp, rng, count):
    root = tmp / "seed-lab"
    _lab_folder(root)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(root.rglob("*.png")):
            archive.write(file, f"lab/{file.relative_to(root)}")
    yield from _write_cases(tmp, "lab.zip", buffer.getvalue(), count, rng)


def import_zip(path) -> None:
    from blasto.annotate.labdata import import_lab_zip
    from blasto.store.experiment import create_experiment

    experiment = create_experiment("fuzz", root=path.parent / "data")
    import_lab_zip(experiment, path.read_bytes(), name=path.name)


def _csv_cases(tmp, rng, count):
    text = "pool,frame,time_min,area_px\n" + "".join(f"3,{f},{f * 10},{1000 + 7 * f}\n" for f in range(0, 20, 3))
    yield from _write_cases(tmp, "measurements.csv", text.encode(), count, rng)


def _xlsx_cases(tmp, rng, count):
    yield from _write_cases(tmp, "measurements.xlsx", xlsx_bytes(), count - count // 4, rng)
    yield from _write_cases(tmp / "junk", "junk.xlsx", junk_zip_bytes(), count // 4, rng)


def open_measurements(path) -> None:
    from blasto.review.measurements import parse_measurements

    parse_measurements(path, n_frames=20, frame_interval_s=600.0, pool=3)


def _manifest_cases(tmp, rng, count):
    from synthetic import tiny_experiment

    seed_root = tmp / "seed"
    experiment = tiny_experiment("exp", root=seed_root, size=16, pools=2, frames=3)
    seed = (experiment.path / "manifest.json").read_bytes()
    for n, (label, data) in enumerate(mutants(seed, count, rng, JSON_MUTATORS)):
        folder = tmp / f"case{n:03d}" / "exp"
        shutil.copytree(experiment.path, folder)
        (folder / "manifest.json").write_bytes(data)
        yield label, folder / "manifest.json"


def open_experiment(path) -> None:
    from blasto.store.experiment import Experiment

    experiment = Experiment(path.parent)
    experiment.summary()
    for pool in experiment.pool_numbers:
        experiment.manifest.source_pixels_per_working_pixel(pool)
        experiment.annotated_frames(pool)


def _run_folder(root: Path) -> Path:
    from blasto.train.config import TrainConfig
    from blasto.train.records import EpochRecord, RunStatus

    run = root / "20260101-000000-demo"
    run.mkdir(parents=True)
    config = TrainConfig.from_preset("blasto", experiment="demo", epochs=3, steps_per_epoch=2)
    (run / "config.json").write_text(json.dumps(config.to_dict()))
    status = RunStatus.starting(config, run.name)
    status.state, status.epoch, status.best_val_loss = "finished", 3, 0.2
    (run / "status.json").write_text(json.dumps(status.to_dict()))
    history = [EpochRecord(epoch=e, loss=0.5 / e, val_loss=0.4 / e, val_dice=0.5, lr=1e-3).to_dict()
               for e in (1, 2, 3)]
    (run / "history.json").write_text(json.dumps(history))
    (run / "batches.csv").write_text("epoch,step,loss\n1,1,0.5\n1,2,0.4\n")
    return run


def _run_cases(tmp, rng, count):
    seed_run = _run_folder(tmp / "seed")
    files = ("config.json", "status.json", "history.json", "batches.csv")
    for n in range(count):
        run = tmp / f"case{n:03d}" / seed_run.name
        shutil.copytree(seed_run, run)
        label = "original"
        if n:
            victim = run / files[n % len(files)]
            mutator = rng.choice(JSON_MUTATORS if victim.suffix == ".json" else BYTE_MUTATORS)
            victim.write_bytes(mutator(victim.read_bytes(), rng))
            label = f"{mutator.__name__} {victim.name}"
        yield label, run


def open_run(path) -> None:
    from blasto.train.runs import Run, list_runs

    run = Run(path, active=False)
    run.summary()
    run.history, run.batches, run.best
    list_runs(root=path.parent)
    run.resume_refusal()
    run.config  # noqa: B018 - the one part that refuses a damaged file (the rest reads around it)


def _keras_seeds(tmp: Path) -> dict:
    import keras

    def tiny(lambda_layer=False, channels=1):
        inputs = keras.Input((16, 16, channels))
        x = keras.layers.Conv2D(2, 3, padding="same", activation="relu")(inputs)
        if lambda_layer:
            x = keras.layers.Lambda(lambda t: t * 2.0)(x)
        outputs = keras.layers.Conv2D(1, 1, activation="sigmoid")(x)
        return keras.Model(inputs, outputs)

    seeds = {}
    for name, model in (("good", tiny()), ("lambda", tiny(lambda_layer=True)),
                        ("wrong", keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)]))):
        path = tmp / f"seed-{name}.keras"
        model.save(path)
        seeds[name] = path.read_bytes()
    seeds["text"] = b"this is not a model\n"
    return seeds


def _keras_cases(tmp, rng, count):
    seeds = _keras_seeds(tmp)
    n = 0

    def case(label, data):
        nonlocal n
        path = tmp / f"case{n:03d}" / "model.keras"
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        n += 1
        return label, path

    for name in ("good", "lambda", "wrong", "text"):
        yield case(name, seeds[name])
    for label, data in mutants(seeds["good"], count - 4, rng, (truncate, flip_bits, zero_run)):
        if label != "original":
            yield case(label, data)


def open_keras(path) -> None:
    from blasto.model.inference import Predictor

    predictor = Predictor.load(path)
    predictor(np.zeros((16, 16), np.uint8))


def groups(scale: float = 1.0) -> list[Group]:
    """Every reader, with its number of cases (``scale`` multiplies them)."""
    def n(count):
        return max(2, round(count * scale))

    return [
        Group("gif", n(60), _movie_cases(gif_bytes, "m.gif"), open_and_iterate),
        Group("tiff-8bit", n(40), _movie_cases(lambda: tiff_bytes("8bit"), "m.tif"), open_and_iterate),
        Group("tiff-16bit", n(30), _movie_cases(lambda: tiff_bytes("16bit"), "m.tif"), open_and_iterate),
        Group("tiff-float", n(30), _movie_cases(lambda: tiff_bytes("float"), "m.tif"), open_and_iterate),
        Group("tiff-5d", n(20), _movie_cases(lambda: tiff_bytes("5d"), "m.tif"), open_and_iterate),
        Group("tiff-1page", n(20), _movie_cases(lambda: tiff_bytes("1page"), "m.tif"), open_and_iterate),
        Group("tiff-zlib", n(20), _movie_cases(lambda: tiff_bytes("compressed"), "m.tif"), open_and_iterate),
        Group("mp4", n(12), _movie_cases(lambda: video_bytes(".mp4"), "m.mp4"), open_and_iterate),
        Group("avi", n(8), _movie_cases(lambda: video_bytes(".avi"), "m.avi"), open_and_iterate),
        Group("frame-folder", n(20), _folder_cases, open_and_iterate),
        Group("lab-png", n(25), _lab_png_cases, open_lab_folder),
        Group("lab-zip", n(25), _lab_zip_cases, import_zip),
        Group("csv", n(30), _csv_cases, open_measurements),
        Group("xlsx", n(24), _xlsx_cases, open_measurements),
        Group("manifest", n(40), _manifest_cases, open_experiment),
        Group("run-files", n(40), _run_cases, open_run),
        Group("keras", n(12), _keras_cases, open_keras),
    ]


def _names_file(message: str, path: Path) -> bool:
    return any(part in message for part in (path.name, str(path.parent.name)))


def run_group(group: Group, *, seed: int = 0, root=None) -> list[Outcome]:
    """Run one group's cases in a temporary folder; one :class:`Outcome` each."""
    rng = random.Random(f"{seed}-{group.name}")
    outcomes = []
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{group.name}-", dir=root) as tmp:
        for label, path in group.make(Path(tmp), rng, group.cases):
            start = time.perf_counter()
            try:
                with time_limit(CASE_SECONDS):
                    group.open(path)
                result, detail = "accepted", ""
            except BlastoError as exc:
                message = str(exc)
                if _names_file(message, path):
                    result, detail = "refused", message
                else:
                    result, detail = "crash", f"BlastoError without the file's name: {message}"
            except (Exception, CaseTimeout) as exc:  # noqa: BLE001 - every other type is the finding
                tb = traceback.extract_tb(exc.__traceback__)[-1]
                result = "crash"
                detail = f"{type(exc).__name__}: {exc} (at {Path(tb.filename).name}:{tb.lineno})"
            outcomes.append(Outcome(group.name, label, result, detail[:300],
                                    time.perf_counter() - start))
    return outcomes


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases-scale", type=float, default=1.0)
    parser.add_argument("--only", nargs="*", help="group names")
    args = parser.parse_args(argv)
    totals = {"accepted": 0, "refused": 0, "crash": 0}
    start, rss = time.perf_counter(), peak_rss_mb()
    print(f"{'group':14} {'cases':>5} {'accepted':>8} {'refused':>7} {'crashes':>7} {'slowest s':>9}")
    crashes = []
    for group in groups(args.cases_scale):
        if args.only and group.name not in args.only:
            continue
        outcomes = run_group(group, seed=args.seed)
        counts = {k: sum(o.result == k for o in outcomes) for k in totals}
        for key in totals:
            totals[key] += counts[key]
        crashes += [o for o in outcomes if o.result == "crash"]
        print(f"{group.name:14} {len(outcomes):5d} {counts['accepted']:8d} {counts['refused']:7d} "
              f"{counts['crash']:7d} {max(o.seconds for o in outcomes):9.2f}")
    cases = sum(totals.values())
    print(f"{'all':14} {cases:5d} {totals['accepted']:8d} {totals['refused']:7d} {totals['crash']:7d}"
          f"   in {time.perf_counter() - start:.1f} s, peak RSS {peak_rss_mb():.0f} MB "
          f"(+{peak_rss_mb() - rss:.0f} MB)")
    for outcome in crashes:
        print(f"CRASH {outcome.group} [{outcome.label}]: {outcome.detail}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
