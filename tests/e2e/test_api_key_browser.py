"""Browser: register → Security → View (wrong, then right password) → re-mask → Re-generate."""

import re

import httpx
from playwright.async_api import expect

from tests.e2e.flows import REVEAL_SECONDS, escape_closes_and_refocuses, register, submit_modal

KEY = re.compile(r"^at_[0-9A-Za-z]{49}$")


async def test_view_and_regenerate_the_api_key(page, server):
    await register(page, server)
    key_box = page.locator("#api-key")
    masked = await key_box.locator("code").inner_text()
    assert masked.startswith("at_") and "•" in masked

    await key_box.get_by_role("button", name="View").click()
    await submit_modal(page, password="not my password")
    dialog = page.locator("dialog[open]")
    await expect(dialog.get_by_role("alert")).to_contain_text("That password is not correct")
    await expect(page.locator("#api-key-value")).to_have_count(0)

    await submit_modal(page)
    await expect(page.locator("dialog[open]")).to_have_count(0)
    value = page.locator("#api-key-value")
    await expect(value).to_be_visible()
    key = await value.inner_text()
    assert KEY.match(key)
    await expect(page.locator("#api-key")).to_contain_text("Hides in")

    await page.get_by_role("button", name="Copy").click()
    await expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == key

    # The reveal period passes: the key masks itself again.
    await expect(page.locator("#api-key-value")).to_have_count(
        0, timeout=(REVEAL_SECONDS + 5) * 1000
    )
    await expect(page.locator("#api-key code")).to_have_text(masked)

    headers = {"api-key": key}
    assert httpx.get(f"{server}/api/v1/me", headers=headers).status_code == 200

    await page.locator("#api-key").get_by_role("button", name="Re-generate").click()
    dialog = page.locator("dialog[open]")
    await expect(dialog).to_contain_text("Re-generate API key")
    await dialog.get_by_role("checkbox").check()  # the window from View is still fresh
    await dialog.locator("button[type=submit]").click()
    new_value = page.locator("#api-key-value")
    await expect(new_value).to_be_visible()
    await expect(page.locator("#api-key")).to_contain_text("old key no longer works")
    new_key = await new_value.inner_text()
    assert KEY.match(new_key) and new_key != key

    assert httpx.get(f"{server}/api/v1/me", headers=headers).status_code == 401
    me = httpx.get(f"{server}/api/v1/me", headers={"api-key": new_key})
    assert me.status_code == 200 and me.json()["result"]["username"] == "alice"


async def test_hide_button_and_escape_close(page, server):
    await register(page, server, "bob")
    view = page.locator("#api-key").get_by_role("button", name="View")
    await escape_closes_and_refocuses(page, view)
    await view.click()
    await submit_modal(page)
    await expect(page.locator("#api-key-value")).to_be_visible()
    await page.get_by_role("button", name="Hide").click()
    await expect(page.locator("#api-key-value")).to_have_count(0)
