"""Small Streamlit helpers shared by ``app.py`` and the pages.

Only this module and the pages import Streamlit; nothing here imports
``streamlit_drawable_canvas`` (it raises outside ``streamlit run``).
"""

from __future__ import annotations

import contextlib

import streamlit as st

from blasto.errors import BlastoError
from blasto.store.experiment import Experiment, list_experiments, open_experiment

CURRENT = "current_experiment"


def page_setup(title: str) -> None:
    st.set_page_config(page_title=f"blasto · {title}", page_icon=":material/biotech:", layout="wide")


@contextlib.contextmanager
def report_errors():
    """Show a :class:`BlastoError` as a plain red message instead of a traceback."""
    try:
        yield
    except BlastoError as exc:
        st.error(str(exc))


def pick_experiment(*, label="Experiment", where=None) -> Experiment | None:
    """A select box of experiments that remembers the choice across pages.

    The choice also follows ``?experiment=NAME`` in the address, so a link opens it.
    """
    where = where or st.sidebar
    names = list_experiments()
    if not names:
        where.info("No experiments yet: crop a movie on the Annotate page.")
        return None
    wanted = st.query_params.get("experiment") or st.session_state.get(CURRENT)
    index = names.index(wanted) if wanted in names else (names.index("demo") if "demo" in names else 0)
    name = where.selectbox(label, names, index=index, key="experiment_select")
    st.session_state[CURRENT] = name
    if st.query_params.get("experiment") != name:
        st.query_params["experiment"] = name
    try:
        return open_experiment(name)
    except BlastoError as exc:
        where.error(str(exc))
        return None
