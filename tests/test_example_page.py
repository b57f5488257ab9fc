"""The guide's example page (docs/extending.md), tested the way the guide says."""

import pytest

from tests.conftest import make_client
from tests.example import notes
from tests.helpers import PASSWORD, Trader, fast_passwords
from webapp.app import create_app


@pytest.fixture
async def app(settings, clock):
    """The app with the example routes added (step 3 of the guide)."""
    application = create_app(
        settings, clock=clock, passwords=fast_passwords(), extra_routes=notes.routes
    )
    async with application.router.lifespan_context(application):
        yield application


async def test_page_needs_sign_in(client):
    response = await client.get("/settings/notes")
    assert response.status_code == 303 and response.headers["location"] == "/login"


async def test_reveal_needs_the_step_up(trader):
    page = await trader.page("/settings/notes")
    assert page.status_code == 200 and "Hello" not in page.text
    assert page.headers["cache-control"] == "no-store"
    modal = await trader.hx("POST", "/settings/notes/reveal")
    assert "<dialog" in modal.text and "Hello" not in modal.text
    wrong = await trader.hx("POST", "/settings/notes/reveal", {"step": "verify", "password": "x"})
    assert wrong.status_code == 422 and "Hello" not in wrong.text
    shown = await trader.hx(
        "POST", "/settings/notes/reveal", {"step": "verify", "password": PASSWORD}
    )
    assert "Hello alice" in shown.text and shown.headers["HX-Trigger"] == "stepup-done"


async def test_csrf_comes_for_free(client, trader):
    response = await client.post("/settings/notes/reveal", data={"step": "verify"})
    assert response.status_code == 403


async def test_other_pages_still_work(app):
    async with make_client(app) as c:
        assert (await Trader(c).register()).status_code == 303
