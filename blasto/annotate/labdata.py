"""The lab's own annotation folders: import them into an experiment, export an experiment back.

The lab keeps annotations as two folders, ``train/`` and ``validation/``. In each, a file whose
name contains ``x`` is an image and one whose name contains ``y`` is its mask (black = cell),
paired in sorted order, as their notebook reads them (``sorted(glob('*x*'))``).

Names are judged on the file name without its extension, case-insensitively:

* only ``x`` -> image, only ``y`` -> mask;
* both (``embryo_x1``: the ``y`` of *embryo*) -> decided by a separate ``x``/``y`` word
  (``embryo_x_01`` is an image); still both -> refused, naming the files;
* neither (``README.txt``, ``Thumbs.db``) -> ignored, and reported.

:func:`import_lab_folder` validates everything before it writes anything: one bad file and
nothing is imported. Writing an experiment back in the same layout is
:mod:`blasto.annotate.labexport`.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import struct
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from blasto.errors import BlastoError, MaskError
from blasto.masks import decode_lab_mask
from blasto.movies.base import MAX_FRAME_PIXELS
from blasto.store.manifest import SIDES

IMAGE_SUFFIXES = {".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".gif"}
# A "mask" with more than this fraction of pixels far from both black and white (between a
# quarter and three quarters of the range) is a photo put in the wrong place. Smoothly resized
# masks only have gray at their edges: a few percent.
MAX_GRAY_FRACTION = 0.10
#: The most an uploaded zip may unpack to (2 GB): a zip bomb, or a damaged size field, is
#: refused before anything is extracted.
MAX_ZIP_BYTES = 2 * 1024 ** 3


@dataclass
class LabSide:
    """The pairs found on one side of a lab folder, read, checked and resized."""

    side: str
    images: list = field(default_factory=list)  # uint8 (size, size)
    masks: list = field(default_factory=list)  # bool (size, size), True = cell
    names: list = field(default_factory=list)  # (image file name, mask file name)


@dataclass
class ImportReport:
    """What an import found and did, per side: pairs written, pairs skipped because the
    experiment already held the very same image and mask, earlier pairs replaced; and the
    warnings (nothing here was refused).

    >>> ImportReport(pairs={"train": 0}, skipped={"train": 80}).summary()
    'Imported nothing new. Skipped 80 train pair(s) already imported (same image and mask).'
    """

    pairs: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    replaced: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)

    def summary(self) -> str:
        def counts(by_side):
            return ", ".join(f"{n} {side}" for side, n in by_side.items() if n)

        text = f"Imported {counts(self.pairs)} pair(s)." if counts(self.pairs) else "Imported nothing new."
        if counts(self.skipped):
            text += f" Skipped {counts(self.skipped)} pair(s) already imported (same image and mask)."
        if counts(self.replaced):
            text += f" Replaced {counts(self.replaced)} pair(s) imported earlier."
        return text + (f" {len(self.warnings)} warning(s)." if self.warnings else "")


# -- names --------------------------------------------------------------------------------------
def classify_name(name: str) -> str | None:
    """'image', 'mask', None (neither: ignored) or 'ambiguous' for a lab file name.

    >>> [classify_name(n) for n in ["x_001.png", "y_001.png", "embryo_x_01.png", "xy.png", "a.png"]]
    ['image', 'mask', 'image', 'ambiguous', None]
    """
    stem = Path(name).stem.lower()
    has_x, has_y = "x" in stem, "y" in stem
    if has_x != has_y:
        return "image" if has_x else "mask"
    if not has_x:
        return None
    words = set(re.split(r"[^a-z]+", stem))  # 'embryo_x_01' -> {'embryo', 'x', ''}
    if ("x" in words) != ("y" in words):
        return "image" if "x" in words else "mask"
    return "ambiguous"


def _side_files(folder: Path) -> tuple[list[Path], list[Path], list[str], list[str]]:
    """Sorted image and mask files of one side, plus ignored and ambiguous names."""
    images, masks, ignored, ambiguous = [], [], [], []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.is_dir() or path.name.startswith("."):
            continue
        kind = classify_name(path.name) if path.suffix.lower() in IMAGE_SUFFIXES else None
        if kind == "image":
            images.append(path)
        elif kind == "mask":
            masks.append(path)
        elif kind == "ambiguous":
            ambiguous.append(path.name)
        else:
            ignored.append(path.name)
    return images, masks, ignored, ambiguous


# -- reading ------------------------------------------------------------------------------------
def _read_gray(path: Path) -> np.ndarray:
    """Any image file as a 2-D float array scaled to 0-255 (first page, colour averaged)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.size[0] * image.size[1] > MAX_FRAME_PIXELS:
                raise MaskError(f"{path}: the image declares {image.size[0]}x{image.size[1]} "
                                "pixels, more than blasto reads; the file is damaged.")
            image.seek(0)
            array = np.asarray(image)
    # Pillow's decoders raise more than OSError for a damaged file (IndexError and
    # struct.error from a truncated GIF, DecompressionBombError from a huge declared size).
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, IndexError, struct.error,
            MemoryError, Image.DecompressionBombError) as exc:
        raise MaskError(f"{path}: cannot read this file as an image ({exc}).") from None
    if array.dtype == bool:
        return array.astype(np.float32) * 255.0
    if array.ndim == 3:
        array = array[..., :3].mean(axis=-1)
    if array.ndim != 2:
        raise MaskError(f"{path}: expected a 2-D image, got an array of shape {array.shape}.")
    floating = np.issubdtype(array.dtype, np.floating)
    array = array.astype(np.float32)
    top = float(array.max(initial=0))
    if top > 255:  # 16-bit images (or floats beyond 8-bit levels): scale by their own top
        array = array * (255.0 / top)
    elif floating and top <= 1.0:  # float images in 0-1
        array = array * 255.0
    return array


def _resize(array: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize to size x size (float 0-255 in, float out); a no-op at the right size."""
    from PIL import Image

    if array.shape == (size, size):
        return array
    image = Image.fromarray(array.astype(np.float32))  # mode "F": no rounding before resizing
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)


def gray_fraction(mask_image: np.ndarray) -> float:
    """Fraction of pixels far from both black and white (a quarter to three quarters of 255).

    >>> gray_fraction(np.array([0, 255, 128, 250], np.float32))
    0.25
    """
    values = np.asarray(mask_image, dtype=np.float32)
    return float(np.mean((values > 255 * 0.25) & (values < 255 * 0.75)))


def read_lab_side(folder, side: str, *, size: int) -> tuple[LabSide, list[str], list[str]]:
    """Read, check and resize one side; returns (pairs, problems, warnings).

    Problems refuse the import; warnings do not.
    """
    folder = Path(folder)
    found = LabSide(side)
    images, masks, ignored, ambiguous = _side_files(folder)
    problems, warnings = [], []
    if ignored:
        warnings.append(f"{folder}: ignored {len(ignored)} file(s) whose name has neither "
                        f"'x' nor 'y' or is not an image: {', '.join(ignored[:5])}"
                        + (" ..." if len(ignored) > 5 else ""))
    if ambiguous:
        problems.append(f"{folder}: cannot tell image from mask for {', '.join(ambiguous)} "
                        "(the name contains both 'x' and 'y'): rename them.")
    if len(images) != len(masks):
        problems.append(f"{folder}: {len(images)} image(s) (names with 'x') but {len(masks)} "
                        "mask(s) (names with 'y'): they must pair one to one.")
    for image_path, mask_path in zip(images, masks):
        try:
            image = _read_gray(image_path)
            mask_image = _read_gray(mask_path)
        except MaskError as exc:
            problems.append(str(exc))
            continue
        fraction = gray_fraction(mask_image)
        if fraction > MAX_GRAY_FRACTION:
            problems.append(f"{mask_path}: not a black-and-white mask ({fraction:.0%} of its "
                            "pixels are gray): is it a photo in the mask's place?")
            continue
        cell = decode_lab_mask(_resize(mask_image, size), source=str(mask_path))
        if not cell.any():
            warnings.append(f"{mask_path}: the mask is all white (no cell).")
        elif cell.all():
            warnings.append(f"{mask_path}: the mask is all black (cell everywhere).")
        found.images.append(np.clip(np.rint(_resize(image, size)), 0, 255).astype(np.uint8))
        found.masks.append(cell)
        found.names.append((image_path.name, mask_path.name))
    return found, problems, warnings


# -- import ----------------------------------------------------------------------------------------
def _lab_root(folder: Path) -> Path:
    """The folder holding train/ and/or validation/: ``folder`` or its single sub-folder."""
    if any((folder / side).is_dir() for side in SIDES):
        return folder
    children = [c for c in folder.iterdir() if c.is_dir() and not c.name.startswith((".", "__"))]
    if len(children) == 1 and any((children[0] / side).is_dir() for side in SIDES):
        return children[0]
    raise MaskError(f"{folder}: no train/ or validation/ folder in it (the lab's layout).")


def read_lab_folder(folder, *, size: int) -> tuple[list[LabSide], ImportReport]:
    """Read and check a whole lab folder at working ``size``, writing nothing.

    Raises :class:`MaskError` listing every problem found; returns the pairs of each side and
    a report holding the warnings.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MaskError(f"{folder}: no such folder.")
    root = _lab_root(folder)
    report, sides, problems = ImportReport(), [], []
    for side in SIDES:
        if (root / side).is_dir():
            found, side_problems, side_warnings = read_lab_side(root / side, side, size=size)
            sides.append(found)
            problems += side_problems
            report.warnings += side_warnings
    if problems:
        raise MaskError("Nothing was imported. " + " ".join(problems))
    if not any(found.images for found in sides):
        raise MaskError(f"{root}: no image/mask pairs found in train/ or validation/.")
    return sides, report


def store_lab_sides(experiment, sides, report: ImportReport, *, replace: bool = False) -> ImportReport:
    """Write pairs read by :func:`read_lab_folder` into ``experiment``.

    Without ``replace``, pairs the experiment already holds (the same image and mask, e.g. the
    same folder imported twice) are skipped and counted in ``report.skipped``. With
    ``replace``, the side's earlier pairs are removed, but only once every new pair is written:
    a crash half-way leaves old and new pairs, never fewer than before.
    """
    size = experiment.size
    for found in sides:
        if any(image.shape != (size, size) for image in found.images):
            raise MaskError(f"These pairs were read at another size than {experiment.name}'s "
                            f"working size ({size}x{size}).")
        earlier = experiment.imported_pairs(found.side)
        known = set() if replace else {pair_key(*experiment.read_imported_pair(*pair)) for pair in earlier}
        index, written, skipped = _next_import_index(earlier), 0, 0
        for image, cell in zip(found.images, found.masks):
            key = pair_key(image, cell)
            if key in known:
                skipped += 1
                continue
            known.add(key)
            experiment.write_imported_pair(found.side, index + written, image, cell)
            written += 1
        if replace:
            for image_path, mask_path in earlier:
                image_path.unlink()  # the image first: a pair without it is no longer listed
                mask_path.unlink()
            report.replaced[found.side] = len(earlier)
        report.pairs[found.side], report.skipped[found.side] = written, skipped
    return report


def pair_key(image: np.ndarray, cell: np.ndarray) -> str:
    """A fingerprint of one pair at the working size: equal for the same image and mask.

    >>> pair_key(np.zeros((2, 2), np.uint8), np.eye(2, dtype=bool)) == pair_key(
    ...     np.zeros((2, 2), np.uint8), np.eye(2, dtype=bool))
    True
    """
    digest = hashlib.sha1(np.ascontiguousarray(image, np.uint8).tobytes())
    digest.update(np.packbits(np.asarray(cell, bool)).tobytes())
    digest.update(repr(np.shape(image)).encode())
    return digest.hexdigest()


def import_lab_folder(experiment, folder, *, replace: bool = False) -> ImportReport:
    """Import a lab folder (train/ and validation/) into ``experiment``, keeping each side.

    Every file is read and checked first; if anything is wrong, :class:`MaskError` lists all
    the problems and nothing is written. Images and masks are resized to the experiment's
    working size. ``replace`` removes earlier imported pairs of the sides being imported.
    """
    sides, report = read_lab_folder(folder, size=experiment.size)
    return store_lab_sides(experiment, sides, report, replace=replace)


def _next_import_index(pairs) -> int:
    numbers = [int(re.sub(r"\D", "", image.stem) or -1) for image, _ in pairs]
    return max(numbers, default=-1) + 1


def import_lab_zip(experiment, data, *, replace: bool = False, name: str = "The upload") -> ImportReport:
    """Import a zip of a lab folder (bytes or a file object), e.g. from a browser upload;
    ``name`` (the upload's file name) is what messages call it."""
    raw = data if isinstance(data, (bytes, bytearray)) else data.read()
    label = name if name == "The upload" else f"The upload {name!r}"
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
            NotImplementedError, struct.error, IndexError):
        raise MaskError(f"{label} is not a zip file (or a damaged one): zip the folder holding "
                        "train/ and validation/ and upload that.") from None
    declared = sum(max(member.file_size, 0) for member in members)
    if declared > MAX_ZIP_BYTES:
        raise MaskError(f"{label} unpacks to {declared / 1024 ** 3:.1f} GB, more than the "
                        f"{MAX_ZIP_BYTES / 1024 ** 3:.0f} GB blasto accepts.")
    with archive, tempfile.TemporaryDirectory(prefix="blasto-import-") as tmp:
        for member in members:
            if not Path(tmp, member.filename).resolve().is_relative_to(Path(tmp).resolve()):
                raise MaskError(f"{label} holds a file outside its folder ({member.filename}).")
        try:
            archive.extractall(tmp)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError,
                RuntimeError, struct.error, zlib.error, IndexError) as exc:
            # RuntimeError: an encrypted member; zlib.error, BadZipFile: damaged data (CRC).
            raise MaskError(f"{label} is a damaged zip file ({exc}).") from None
        macos = Path(tmp, "__MACOSX")  # resource forks that macOS's zip adds
        if macos.exists():
            shutil.rmtree(macos)
        try:
            return import_lab_folder(experiment, tmp, replace=replace)
        except BlastoError as exc:  # name the files inside the upload, not a temporary folder
            message = str(exc)
            for prefix in {str(Path(tmp).resolve()), str(tmp)}:
                message = message.replace(prefix + "/", "").replace(prefix, "the zip")
            raise type(exc)(f"{label}: {message}") from None
