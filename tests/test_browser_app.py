"""The app shell in real Chromium: home page, direct links on a fresh server."""

import pytest

from conftest import wait_for_app

pytestmark = pytest.mark.browser


def test_home_page_lists_the_demo_experiment(app, page):
    page.goto(app.url)
    wait_for_app(page)
    page.get_by_role("heading", name="demo").wait_for()
    page.get_by_text("Annotated frames").first.wait_for()
    # The card links open each step with the experiment selected.
    page.get_by_role("link", name="Train demo").click()
    page.wait_for_url("**/Train?experiment=demo")
    wait_for_app(page)
    page.get_by_role("heading", name="Train").first.wait_for()


@pytest.mark.parametrize("first_page", ["Annotate", "Train", "Review"])
def test_direct_link_to_a_page_on_a_fresh_server(app, page, first_page):
    # The very first request this server sees is the deep link.
    page.goto(f"{app.url}/{first_page}")
    wait_for_app(page)
    page.get_by_role("heading", name=first_page).first.wait_for()
    # The experiment picker opened on the demo, and the address says so (links can be shared).
    assert page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"] input').first.input_value() == "demo"
    assert "experiment=demo" in page.url
    assert page.locator('[data-testid="stException"]').count() == 0
