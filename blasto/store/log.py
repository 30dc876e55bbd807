"""blasto's log: where the pages and the command line keep the traceback of an unexpected error.

The user sees one short line (:func:`short_report`) that says where the full traceback went:
``DATA/logs/blasto.log`` (:func:`log_path`), rotated at 1 MB with 3 older files kept. A log is
appended to, never replaced, so it is the one file blasto writes outside
:mod:`blasto.store.atomic`; a torn last line after a kill costs nothing.

>>> short_report(ValueError("bad\\nvalue"), Path("data/logs/blasto.log"))
'Something went wrong (ValueError: bad). The details are in data/logs/blasto.log; please send that file with a note of what you did.'
"""

from __future__ import annotations

import logging
import logging.handlers
import tempfile
import traceback
from pathlib import Path

from blasto.errors import first_line
from blasto.store.roots import data_root

#: Size at which the log is rotated, and how many older logs are kept.
MAX_BYTES, BACKUPS = 1_000_000, 3


def log_path() -> Path:
    """``DATA/logs/blasto.log`` (``BLASTO_DATA`` moves it with the data folder)."""
    return data_root() / "logs" / "blasto.log"


def log_exception(exc: BaseException, *, where: str) -> Path:
    """Append ``exc``'s full traceback to the log, saying ``where`` it happened (a page, a
    command); return the log's path. A data folder that cannot be written logs to the
    temporary folder instead: reporting an error must not fail."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
    for path in (log_path(), Path(tempfile.gettempdir()) / "blasto-logs" / "blasto.log"):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES,
                                                           backupCount=BACKUPS, encoding="utf-8")
        except OSError:
            continue
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        try:
            handler.emit(logging.LogRecord("blasto", logging.ERROR, __file__, 0,
                                           f"unexpected error in {where}\n{text}", None, None))
        finally:
            handler.close()
        return path
    return log_path()


def short_report(exc: BaseException, path: Path) -> str:
    """The one line the user sees for an unexpected error: what, and where the details are."""
    return (f"Something went wrong ({type(exc).__name__}: {first_line(exc)}). The details are in "
            f"{path}; please send that file with a note of what you did.")
