"""Streamlit helpers for ``app.py`` and ``pages/`` (the only part of blasto that imports
Streamlit)."""
