"""Small Streamlit helpers shared by ``app.py`` and the pages.

Only ``blasto.app`` and the pages import Streamlit.
"""

from __future__ import annotations

import contextlib

import streamlit as st

from blasto.errors import BlastoError
from blasto.store.experiment import Experiment, list_experiments, open_experiment
from blasto.store.log import log_exception, short_report

#: The experiment chosen on any page, followed by the others.
CURRENT = "current_experiment"
#: The experiment select box's own key (a page may set it before it is drawn).
EXPERIMENT_SELECT = "experiment_select"


#: Session key of the pages' leave hooks: {page title: function run when another page opens}.
LEAVE_HOOKS = "page_leave_hooks"


def on_leave(title: str, hook) -> None:
    """Run ``hook`` when the user opens another page than ``title`` (e.g. save unsaved work)."""
    st.session_state.setdefault(LEAVE_HOOKS, {})[title] = hook


def page_setup(title: str) -> None:
    """Start a page: run the other pages' leave hooks (:func:`on_leave`), set its tab title."""
    for other, hook in list(st.session_state.get(LEAVE_HOOKS, {}).items()):
        if other != title:
            with report_errors():
                hook()
    st.set_page_config(page_title=f"blasto · {title}", page_icon=":material/biotech:", layout="wide")


@contextlib.contextmanager
def report_errors():
    """Show a :class:`BlastoError` as a plain red message instead of a traceback."""
    try:
        yield
    except BlastoError as exc:
        st.error(str(exc))


def run_page(main, *, title: str) -> None:
    """Run a page's ``main()`` inside the app's one error boundary.

    A :class:`BlastoError` that no step caught shows as its plain message. Any other exception
    is logged with its traceback (:func:`blasto.store.log.log_exception`) and shows as one short
    red line naming the log, never a raw traceback. Streamlit's own control flow passes
    through: ``st.rerun``/``st.stop`` raise BaseExceptions (not caught here), and a fragment's
    FragmentHandledException is Streamlit's to handle.
    """
    from streamlit.errors import FragmentHandledException

    try:
        main()
    except FragmentHandledException:
        raise
    except BlastoError as exc:
        st.error(str(exc))
    except Exception as exc:  # noqa: BLE001 - this is the boundary: everything else lands here
        st.error(short_report(exc, log_exception(exc, where=f"the {title} page")))


def page_state(key: str, factory):
    """A page's typed state object (a dataclass made by ``factory``), one per browser session:
    the one place a page keeps what is not a widget value."""
    if key not in st.session_state:
        st.session_state[key] = factory()
    return st.session_state[key]


def choose_experiment(name: str) -> None:
    """Make ``name`` the chosen experiment on the next run (before the select box is drawn)."""
    st.session_state[EXPERIMENT_SELECT] = name
    st.session_state[CURRENT] = name
    st.query_params["experiment"] = name


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
    name = where.selectbox(label, names, index=index, key=EXPERIMENT_SELECT)
    st.session_state[CURRENT] = name
    if st.query_params.get("experiment") != name:
        st.query_params["experiment"] = name
    try:
        return open_experiment(name)
    except BlastoError as exc:
        where.error(str(exc))
        return None


def open_page(title: str) -> Experiment | None:
    """Start a page: its tab title, its heading, and the experiment chosen in the sidebar."""
    page_setup(title)
    st.title(title)
    return pick_experiment()


def clock(seconds) -> str:
    """A duration as the pages show it: '12 min', '2 h 05 min'.

    >>> clock(65 * 60), clock(12 * 60 + 20)
    ('1 h 05 min', '12 min')
    """
    seconds = int(round(seconds))
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
