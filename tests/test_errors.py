"""The one error boundary: an unexpected exception in a page or a command is logged under the
data folder and shown as one short line naming the log, never as a raw traceback."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def boom(*args, **kwargs):
    raise RuntimeError("boom\nsecond line")


def test_the_cli_logs_an_unexpected_exception_and_exits_1_with_one_line(roots, monkeypatch, capsys):
    import blasto.cli.list_experiments
    from blasto.cli.main import main

    data, _ = roots
    monkeypatch.setattr(blasto.cli.list_experiments, "run", boom)
    assert main(["list"]) == 1
    err = capsys.readouterr().err.strip()
    log = data / "logs" / "blasto.log"
    assert err.count("\n") == 0 and "RuntimeError: boom" in err and str(log) in err
    text = log.read_text()
    assert "python -m blasto list" in text and "Traceback (most recent call last)" in text
    # A BlastoError stays a plain message with status 2, and is not logged.
    assert main(["crop", str(data / "missing.gif"), "--experiment", "x"]) == 2
    assert log.read_text() == text


def test_a_page_shows_a_short_error_naming_the_log(roots, monkeypatch):
    from streamlit.testing.v1 import AppTest

    import blasto.app.common

    data, _ = roots
    monkeypatch.setattr(blasto.app.common, "open_page", boom)
    page = AppTest.from_file(str(REPO / "pages" / "2_Train.py"), default_timeout=60).run()
    assert not page.exception
    [error] = page.error
    assert "RuntimeError: boom" in error.value and str(data / "logs" / "blasto.log") in error.value
    assert "Traceback" not in error.value
    assert "the Train page" in (data / "logs" / "blasto.log").read_text()


def _script_with_rerun_and_stop():
    import streamlit as st

    from blasto.app.common import run_page

    def main():
        st.session_state.runs = st.session_state.get("runs", 0) + 1
        if st.session_state.runs == 1:
            st.rerun()
        st.write(f"run {st.session_state.runs}")
        st.stop()
        st.write("never shown")

    run_page(main, title="Test")


def test_rerun_and_stop_pass_through_the_boundary(roots):
    from streamlit.testing.v1 import AppTest

    page = AppTest.from_function(_script_with_rerun_and_stop).run()
    assert not page.exception and not page.error
    assert [m.value for m in page.markdown] == ["run 2"]
    assert not (roots[0] / "logs").exists()
