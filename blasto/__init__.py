"""blasto: measure how blastocysts grow and collapse in a time-lapse plate movie.

All logic lives here and imports without Streamlit; the pages in ``pages/`` and the command
line (``python -m blasto``) are thin layers over it.
"""

__version__ = "0.1.0"
