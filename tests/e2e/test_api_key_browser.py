"""Browser: register → Security → View (wrong, then right password) → re-mask → Re-generate."""

import re

import httpx
from playwright.sync_api import expect

from tests.e2e.conftest import REVEAL_SECONDS
from tests.e2e.flows import register, submit_modal

KEY = re.compile(r"^at_[0-9A-Za-z]{49}$")


def test_view_and_regenerate_the_api_key(page, server):
    register(page, server)
    key_box = page.locator("#api-key")
    masked = key_box.locator("code").inner_text()
    assert masked.startswith("at_") and "•" in masked

    key_box.get_by_role("button", name="View").click()
    submit_modal(page, password="not my password")
    dialog = page.locator("dialog[open]")
    expect(dialog.get_by_role("alert")).to_contain_text("That password is not correct")
    expect(page.locator("#api-key-value")).to_have_count(0)

    submit_modal(page)
    expect(page.locator("dialog[open]")).to_have_count(0)
    value = page.locator("#api-key-value")
    expect(value).to_be_visible()
    key = value.inner_text()
    assert KEY.match(key)
    expect(page.locator("#api-key")).to_contain_text("Hides in")

    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == key

    # The reveal period passes: the key masks itself again.
    expect(page.locator("#api-key-value")).to_have_count(0, timeout=(REVEAL_SECONDS + 5) * 1000)
    expect(page.locator("#api-key code")).to_have_text(masked)

    headers = {"api-key": key}
    assert httpx.get(f"{server}/api/v1/me", headers=headers).status_code == 200

    page.locator("#api-key").get_by_role("button", name="Re-generate").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("Re-generate API key")
    dialog.get_by_role("checkbox").check()  # the window from View is still fresh
    dialog.locator("button[type=submit]").click()
    new_value = page.locator("#api-key-value")
    expect(new_value).to_be_visible()
    expect(page.locator("#api-key")).to_contain_text("old key no longer works")
    new_key = new_value.inner_text()
    assert KEY.match(new_key) and new_key != key

    assert httpx.get(f"{server}/api/v1/me", headers=headers).status_code == 401
    me = httpx.get(f"{server}/api/v1/me", headers={"api-key": new_key})
    assert me.status_code == 200 and me.json()["result"]["username"] == "alice"


def test_hide_button_and_escape_close(page, server):
    register(page, server, "bob")
    view = page.locator("#api-key").get_by_role("button", name="View")
    view.click()
    expect(page.locator("dialog[open]")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("dialog")).to_have_count(0)
    expect(view).to_be_focused()
    view.click()
    submit_modal(page)
    expect(page.locator("#api-key-value")).to_be_visible()
    page.get_by_role("button", name="Hide").click()
    expect(page.locator("#api-key-value")).to_have_count(0)
