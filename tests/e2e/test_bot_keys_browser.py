"""Browser: a key for a bot — create (shown once), restrict, roll with a grace period,
Expire now; at desktop and phone sizes."""

import re

import httpx
from playwright.async_api import expect

from tests.e2e.flows import (
    create_bot_key,
    no_overflow,
    register,
    serious_a11y_problems,
    submit_modal,
)

KEY = re.compile(r"^at_[0-9A-Za-z]{49}$")


async def check(page, state: str) -> None:
    """No serious accessibility problem (axe-core) and nothing wider than the screen."""
    problems = await serious_a11y_problems(page)
    assert not problems, f"{state}: {problems}"
    await no_overflow(page)


def me(server: str, key: str) -> httpx.Response:
    """GET /api/v1/me with ``key`` (from this machine: 127.0.0.1)."""
    return httpx.get(f"{server}/api/v1/me", headers={"api-key": key})


async def test_create_view_once_and_restrict_a_bot_key(page, server):
    await register(page, server)
    key = await create_bot_key(page, "VPS bot", allow="127.0.0.1\n2001:db8::/32")
    assert KEY.match(key)
    await expect(page.locator("#created-key")).to_contain_text("shown in full only once")
    await check(page, "key created")
    await page.locator("#created-key").get_by_role("button", name="Copy").click()
    assert await page.evaluate("navigator.clipboard.readText()") == key
    answer = me(server, key)
    assert answer.status_code == 200
    assert answer.json()["result"]["key"] == {
        "name": "VPS bot",
        "permissions": ["read"],
        "expiresAt": None,
    }

    # Shown once: a reload lists the key by name and hint only.
    await page.reload()
    listed = page.locator("#key-list li", has_text="VPS bot")
    await expect(listed).to_contain_text("127.0.0.1, 2001:db8::/32")
    assert key not in await page.content()

    # Restrict it to another address: this machine is refused from then on.
    await listed.get_by_role("link", name="Details").click()
    await expect(page.locator("h1")).to_have_text("API key “VPS bot”")
    await check(page, "detail page")
    # The usage log is written off the request path, about once a second: reload for it.
    for _ in range(40):
        if "GET /api/v1/me" in await page.locator("#key-uses").inner_text():
            break
        await page.wait_for_timeout(250)
        await page.reload()
    await expect(page.locator("#key-uses")).to_contain_text("GET /api/v1/me")
    await page.get_by_text("Change limits").click()
    form = page.locator("#key-limits-form")
    await form.get_by_label("Allowed addresses").fill("not an address")
    await form.get_by_role("button", name="Save limits").click()
    await expect(page.locator("#key-limits .error")).to_contain_text("is not an IP address")
    await check(page, "limits form error")
    form = page.locator("#key-limits-form")
    await form.get_by_label("Allowed addresses").fill("198.51.100.7")
    await form.get_by_role("button", name="Save limits").click()
    if await page.locator("dialog[open]").count():
        await submit_modal(page)
    await expect(page.locator("#key-limits")).to_contain_text("Saved.")
    await expect(page.locator("#key-limits dd").nth(1)).to_have_text("198.51.100.7")
    refused = me(server, key)
    assert refused.status_code == 403 and "may not be used from your address" in refused.text


async def test_roll_with_grace_then_expire_now_on_a_phone(page, server):
    await page.set_viewport_size({"width": 375, "height": 812})
    await register(page, server, "bob")
    old = await create_bot_key(page, "Backtester", manage=True)
    await page.reload()
    await page.locator("#key-list").get_by_role("link", name="Details").click()
    await no_overflow(page)

    box = page.locator("[id^=api-key-]").first
    await box.get_by_role("button", name="Re-generate").click()
    dialog = page.locator("dialog[open]")
    await expect(dialog).to_contain_text("Choose when the old key stops working")
    await check(page, "re-generate dialog on a phone")
    await dialog.get_by_label("The old key stops working").select_option("24h")
    await dialog.get_by_role("checkbox").check()
    if await dialog.locator("#stepup-password").count():
        await dialog.locator("#stepup-password").fill("correct horse battery staple")
    await dialog.locator("button[type=submit]").click()
    new_value = page.locator("[id$=-value]")
    await expect(new_value).to_be_visible()
    new = await new_value.inner_text()
    assert KEY.match(new) and new != old
    await expect(page.locator("[id^=api-key-]").first).to_contain_text(
        "keeps working until it expires in 24 hours"
    )
    assert me(server, old).status_code == 200 and me(server, new).status_code == 200

    await page.reload()
    old_note = page.locator("[id$=-old]")
    await expect(old_note).to_contain_text("still works for")
    await check(page, "old key's time left on a phone")
    await old_note.get_by_role("button", name="Expire now").click()
    dialog = page.locator("dialog[open]")
    await expect(dialog).to_contain_text("Expire the old key now")
    await check(page, "expire dialog")
    await dialog.get_by_role("checkbox").check()
    await dialog.locator("button[type=submit]").click()
    await expect(page.locator("[id$=-old]")).to_have_count(0)
    assert me(server, old).status_code == 401 and me(server, new).status_code == 200
