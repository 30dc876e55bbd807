"""Export an experiment's annotations in the lab's layout: ``train/`` and ``validation/``, the
cleaned frame as ``..._x.png`` and its mask (black = cell) as ``..._y.png``, with names that
sort in pairing order, so :mod:`blasto.annotate.labdata` (and the lab's notebook) read them back.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from blasto.annotate.labdata import classify_name
from blasto.errors import MaskError
from blasto.masks import encode_lab_mask
from blasto.store import atomic
from blasto.store.manifest import SIDES


def export_items(experiment):
    """Yield (side, stem, image uint8, mask bool) for every annotation, in pairing order.

    Hand masks of pools on a side of the split come first (pool by pool, frame by frame),
    then the imported pairs of that side. Pools on neither side are left out.
    """
    for pool in experiment.pool_numbers:
        side = experiment.manifest.split.side_of(pool)
        frames = experiment.annotated_frames(pool)
        if side is None or not frames:
            continue
        movie = experiment.read_pool_movie(pool)
        for frame in frames:
            yield side, f"pool{pool:02d}_frame{frame:04d}", np.array(movie[frame]), \
                experiment.read_mask(pool, frame)
    for side in SIDES:
        for image_path, mask_path in experiment.imported_pairs(side):
            pixels, cell = experiment.read_imported_pair(image_path, mask_path)
            yield side, f"imported_{image_path.stem}", pixels, cell


def unsplit_pools(experiment) -> list[int]:
    """Pools with hand masks but on neither side of the split: an export leaves them out."""
    return [p for p in experiment.pool_numbers
            if experiment.manifest.split.side_of(p) is None and experiment.annotated_frames(p)]


def lab_file_names(stem: str) -> tuple[str, str]:
    """The image and mask file names of one exported pair (contain x / y, not both).

    >>> lab_file_names("pool01_frame0015")
    ('pool01_frame0015_x.png', 'pool01_frame0015_y.png')
    """
    names = (f"{stem}_x.png", f"{stem}_y.png")
    if classify_name(names[0]) != "image" or classify_name(names[1]) != "mask":
        raise MaskError(f"Cannot export {stem!r}: the name would not read back as x/y.")
    return names


def export_lab_folder(experiment, folder, *, force: bool = False) -> dict:
    """Write the experiment's annotations to ``folder``/train and ``folder``/validation.

    Refuses a non-empty ``folder`` unless ``force``; then its train/ and validation/ are
    replaced whole (other files stay). The export is built in a temporary folder beside it and
    moved into place at the end, so a failure leaves ``folder`` as it was. Returns pair counts.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise MaskError(f"{folder}: exists and is not a folder.")
    if folder.is_dir() and any(folder.iterdir()) and not force:
        raise MaskError(f"{folder}: the folder is not empty; choose an empty one (or force).")
    folder.mkdir(parents=True, exist_ok=True)
    counts = {side: 0 for side in SIDES}
    with tempfile.TemporaryDirectory(dir=folder, prefix=".blasto-export-") as tmp:
        for side in SIDES:
            Path(tmp, side).mkdir()
        for side, stem, image, cell in export_items(experiment):
            image_name, mask_name = lab_file_names(stem)
            atomic.write_png(Path(tmp, side, image_name), image)
            atomic.write_png(Path(tmp, side, mask_name), encode_lab_mask(cell))
            counts[side] += 1
        for side in SIDES:
            if (folder / side).exists():
                shutil.rmtree(folder / side)
            Path(tmp, side).rename(folder / side)
    return counts


def export_lab_zip(experiment) -> bytes:
    """The same layout as :func:`export_lab_folder`, as zip bytes (for a download button)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for side in SIDES:  # both folders exist even when one side is empty
            archive.writestr(f"{side}/", b"")
        for side, stem, image, cell in export_items(experiment):
            image_name, mask_name = lab_file_names(stem)
            archive.writestr(f"{side}/{image_name}", atomic.png_bytes(image))
            archive.writestr(f"{side}/{mask_name}", atomic.png_bytes(encode_lab_mask(cell)))
    return buffer.getvalue()
