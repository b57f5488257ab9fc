"""Browser test for the guide's example page: uvicorn in a thread with the extra routes."""

import asyncio
import threading
import time

import pytest
import uvicorn
from playwright.async_api import expect

from tests import databases
from tests.e2e.flows import register, submit_modal
from tests.example import notes, storage
from tests.live_server import free_port
from webapp.app import create_app
from webapp.config import Settings
from webapp.db import make_engine


async def _add_example_table(url: str) -> None:
    engine = make_engine(url)
    try:
        await storage.migrate(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def server(tmp_path):
    """Overrides the e2e server: the app with the example routes, in this process."""
    settings = Settings(
        data_dir=tmp_path / "var", reveal_seconds=2, database_url=databases.fresh_url()
    )
    app = create_app(settings, extra_routes=notes.routes)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    while not running.started:
        time.sleep(0.05)
    asyncio.run(_add_example_table(settings.resolved_database_url))
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=10)


async def test_example_note_reveals_and_hides(page, server):
    await register(page, server)
    await page.goto(f"{server}/settings/notes")
    await page.get_by_role("button", name="Show").click()
    await submit_modal(page)
    await expect(page.locator("#note")).to_contain_text("Hello alice")
    await expect(page.locator("#note")).not_to_contain_text("Hello", timeout=8000)


async def test_example_note_is_saved_behind_the_step_up_then_shown(page, server):
    await register(page, server)
    await page.goto(f"{server}/settings/notes")
    await page.fill("#note-text", "desk 3, PIN 4471")
    await page.get_by_role("button", name="Save note").click()
    await submit_modal(page)  # the dialog sends the note along (Modal.include)
    await expect(page.get_by_role("status")).to_contain_text("Note saved, encrypted")
    await page.get_by_role("button", name="Show").click()  # the window is still fresh
    await expect(page.locator("#note")).to_contain_text("desk 3, PIN 4471")
