"""When a plate's work is already done: the same movie content, the same model, the same settings.

A plate's outputs are finished by writing ``plates/<name>/plate.json`` last; it records the
*work key*, a hash of the movie's content, the model file's content and every setting that
changes the results. A later batch skips a plate whose ``plate.json`` holds the same key, so an
interrupted batch resumes where it stopped (and within a plate, the crop and each pool's
predictions are kept too: see :mod:`blasto.batch.plate`). Content, not names or dates: a movie
copied elsewhere is still done, and a movie replaced under the same name is not.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from blasto.movies.folder import FRAME_EXTENSIONS

_CHUNK = 1 << 20


def _update_with_file(digest, path: Path) -> None:
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)


def content_hash(path) -> str:
    """A hash of a movie's content: the file's bytes, or a frame folder's names and bytes.

    >>> import tempfile, pathlib
    >>> a = pathlib.Path(tempfile.mkdtemp()) / "a.gif"; _ = a.write_bytes(b"GIF89a")
    >>> b = a.with_name("b.gif"); _ = b.write_bytes(b"GIF89a")
    >>> content_hash(a) == content_hash(b)
    True
    """
    path = Path(path)
    digest = hashlib.blake2b(digest_size=16)
    if path.is_dir():
        for file in sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in FRAME_EXTENSIONS):
            digest.update(file.name.encode() + b"\0")
            _update_with_file(digest, file)
    else:
        _update_with_file(digest, path)
    return digest.hexdigest()


def work_key(**parts) -> str:
    """One hash of the parts of a plate's work (movie hash, model hash, settings).

    >>> work_key(movie="ab", size=256) == work_key(size=256, movie="ab")
    True
    """
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def recorded_key(path) -> str | None:
    """The work key in a ``plate.json`` (or ``prepared.json``), or None when absent or torn."""
    try:
        return json.loads(Path(path).read_text()).get("key")
    except (OSError, ValueError, AttributeError):
        return None
