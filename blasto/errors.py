"""The one family of errors blasto raises for bad input.

Every message is plain language that names the file (or value) and the problem, so the pages
can show it with ``st.error`` and the command line can print it, never a raw traceback.
"""


class BlastoError(Exception):
    """A problem the user can fix: bad file, bad name, bad setting."""


class MovieError(BlastoError):
    """A movie (or folder of frames) that cannot be read."""


class ExperimentError(BlastoError):
    """A bad experiment name, a missing experiment, or a broken manifest."""


class MaskError(BlastoError):
    """A mask or annotation that cannot be used."""


class TrainingError(BlastoError):
    """Training cannot start or continue (no data, a run already going, ...)."""


class MeasurementError(BlastoError):
    """A manual-measurements file that cannot be used."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (or its type's name when it has none).

    >>> first_line(ValueError("bad header\\nat byte 12")), first_line(EOFError())
    ('bad header', 'EOFError')
    """
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
