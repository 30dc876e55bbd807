"""Atomic file writes: a crash never leaves half a file.

Each writer writes a temporary file in the destination folder, flushes it to disk, then
renames it over the destination (``os.replace`` is atomic within one file system).

The file gets the permissions a plain ``open(path, "w")`` would give it: a new file
``0o666 & ~umask`` (the temporary file alone would be 0600, private to its owner, which a
shared lab server's other users could not read), a replaced file keeps its mode.
"""

import contextlib
import functools
import io
import json
import os
import stat
import tempfile
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def atomic_path(path, *, suffix=None):
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    Use it for libraries that insist on writing to a file name themselves. On an exception the
    temporary file is removed and ``path`` is left as it was.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = pathlib.Path(tmp).write_text("hello")
    >>> target.read_text()
    'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=suffix or (path.suffix + ".tmp")
    )
    os.close(fd)
    try:
        yield Path(tmp)
        # After the writer is done: a library may have made the file again under the name.
        os.chmod(tmp, file_mode(path))
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def file_mode(path) -> int:
    """The permission bits ``path`` gets when written: its own if it exists, else those of a
    new file under the process's umask.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> oct(file_mode(folder / "new.txt")) == oct(0o666 & ~umask())
    True
    """
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return 0o666 & ~umask()


def umask() -> int:
    """The process's umask, read without changing it where the system tells (Linux: /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return _umask_by_setting()


@functools.cache
def _umask_by_setting() -> int:
    """The umask, read the only portable way: by setting it, and back. Once per process,
    because the umask is the whole process's: a thread making a file meanwhile would get 0."""
    old = os.umask(0)
    os.umask(old)
    return old


def write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path, obj) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def png_bytes(array: np.ndarray) -> bytes:
    """A 2-D uint8 (or RGB/RGBA) array encoded as PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_png(path, array: np.ndarray) -> None:
    """Write a 2-D uint8 (or RGB/RGBA) array as PNG atomically."""
    write_bytes(path, png_bytes(array))


def write_npy(path, array: np.ndarray) -> None:
    """Write a numpy array as ``.npy`` atomically."""
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, np.asarray(array))


def write_tiff(path, frames: np.ndarray) -> None:
    """Write a (T, H, W) uint8 stack as an uncompressed multi-page TIFF atomically.

    Uncompressed and contiguous, so :func:`tifffile.memmap` can read single frames without
    loading the stack, and Fiji/ImageJ opens it as a stack.
    """
    import tifffile

    with atomic_path(path, suffix=".tif") as tmp:
        tifffile.imwrite(tmp, np.asarray(frames), photometric="minisblack", contiguous=True)
