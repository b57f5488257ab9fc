"""The guide's example page (docs/extending.md), tested the way the guide says."""

import pytest
from sqlalchemy import inspect
from sqlmodel import select

from tests.example import notes, storage
from tests.helpers import PASSWORD, Trader, fast_passwords, make_client
from webapp.app import create_app
from webapp.models import SecurityEvent


@pytest.fixture
async def app(settings, clock):
    """The app with the example routes added (step 3 of the guide)."""
    application = create_app(
        settings, clock=clock, passwords=fast_passwords(), extra_routes=notes.routes
    )
    async with application.router.lifespan_context(application):
        await storage.migrate(application.state.ctx.engine)  # the example's own table
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


NOTE = "Broker support PIN is 4471, ask for desk 3"


async def test_saving_a_note_needs_the_step_up_and_stores_it_encrypted(app, trader, stored_bytes):
    await trader.page("/settings/notes")
    asked = await trader.hx("POST", "/settings/notes", {"note": NOTE})
    assert "<dialog" in asked.text and 'hx-include="#note-form"' in asked.text
    saved = await trader.hx(
        "POST", "/settings/notes", {"note": NOTE, "step": "verify", "stepup_password": PASSWORD}
    )
    assert saved.status_code == 200 and "Note saved, encrypted" in saved.text
    assert NOTE.encode() not in await stored_bytes()  # only the ciphertext is stored
    shown = await trader.hx("POST", "/settings/notes/reveal")  # the window is still fresh
    assert NOTE in shown.text
    async with app.state.ctx.db() as db:
        kinds = [e.kind for e in (await db.exec(select(SecurityEvent))).all()]
    assert {"note_saved", "note_viewed"} <= set(kinds)
    page = await trader.page("/settings/security")
    assert "Secret note saved" in page.text  # the activity label


async def test_a_note_over_the_limit_is_refused_with_a_message(trader):
    await trader.page("/settings/notes")
    long = "x" * (storage.MAX_NOTE + 1)
    refused = await trader.hx(
        "POST", "/settings/notes", {"note": long, "step": "verify", "stepup_password": PASSWORD}
    )
    assert refused.status_code == 422 and "1 to 500 characters" in refused.text
    assert long in refused.text  # kept for editing, not cut


async def test_the_example_migration_goes_up_and_down(app):
    engine = app.state.ctx.engine

    async def tables() -> set[str]:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))

    assert "example_notes" in await tables()
    await storage.migrate(engine, storage.downgrade)
    assert "example_notes" not in await tables()
    assert "users" in await tables()  # the app's own tables are untouched
