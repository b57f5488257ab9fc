"""Browser: add an alert address and confirm it from the message, lock with the link in
an alert while signed out, Lock everything now, and unlock then re-generate."""

from __future__ import annotations

import asyncio
import re
from email import message_from_bytes, policy
from pathlib import Path

from playwright.async_api import Page, expect

from tests.e2e.flows import PASSWORD, register, serious_a11y_problems, sign_in, submit_modal

# Links point at AUTOTRADER_PUBLIC_URL (default http://localhost:<port>); the browser
# here opens the same server by 127.0.0.1, so only the path is followed.
LINK = re.compile(
    r"http://(?:localhost|127\.0\.0\.1):\d+(/(?:lock|email/confirm)\?t=[A-Za-z0-9_-]{43})"
)


async def next_message(outbox: Path, seen: set[str], subject: str) -> str:
    """The body of the first new .eml with ``subject`` (the server's worker writes it)."""
    for _ in range(60):
        for path in sorted(outbox.glob("*.eml")) if outbox.exists() else []:
            if path.name in seen:
                continue
            message = message_from_bytes(path.read_bytes(), policy=policy.default)
            if subject in message["Subject"]:
                seen.add(path.name)
                return message.get_body(("plain",)).get_content()
        await asyncio.sleep(0.5)
    raise AssertionError(f"no message {subject!r} in {outbox}")


async def add_address(page: Page, outbox: Path, seen: set[str]) -> None:
    """Add trader@example.com on the Security page and confirm it from the message."""
    section = page.locator("#alerts")
    await section.get_by_text("Add an email address").click()
    await section.get_by_label("Email address").fill("trader@example.com")
    await section.get_by_label("AutoTrader login password").fill(PASSWORD)
    await section.get_by_role("button", name="Send confirmation link").click()
    await expect(page.locator("#alert-pending")).to_contain_text("t***r@e***.com")
    text = await next_message(outbox, seen, "confirm your alert email address")
    server = page.url.split("/settings")[0]  # the server this page came from
    await page.goto(server + LINK.search(text).group(1))
    await page.get_by_role("button", name="Confirm this address").click()
    await expect(page.get_by_role("heading", name="Address confirmed")).to_be_visible()
    await page.goto(page.url.split("/email")[0] + "/settings/security")
    await expect(page.locator("#alert-email")).to_have_text("t***r@e***.com")


async def test_address_then_lock_link_signed_out_then_unlock(page, browser, server, tmp_path):
    outbox = tmp_path / "var" / "outbox"
    seen: set[str] = set()
    await register(page, server)
    await add_address(page, outbox, seen)
    alert = await next_message(outbox, seen, "Alert email address added")
    assert "Wasn't you? Lock my account:" in alert
    # The mail client opens the link in a browser that is not signed in.
    stranger = await browser.new_context()
    mail_tab = await stranger.new_page()
    await mail_tab.goto(server + LINK.search(alert).group(1))
    await expect(
        mail_tab.get_by_role("heading", name="Lock your AutoTrader account?")
    ).to_be_visible()
    await mail_tab.get_by_role("button", name="Lock my account").click()
    await expect(mail_tab.get_by_role("heading", name="Your account is locked")).to_be_visible()
    await stranger.close()
    # The trader's own session ended; signing in shows the lock and the way out.
    await page.reload()
    await expect(page).to_have_url(f"{server}/login")
    await sign_in(page, server)
    lockdown = page.locator("#lockdown")
    await expect(lockdown).to_contain_text("Your account is locked")
    await page.locator("#alerts").get_by_text("Change the address").click()  # the open form too
    assert await serious_a11y_problems(page) == []
    await lockdown.get_by_label("AutoTrader login password").fill(PASSWORD)
    await lockdown.get_by_role("button", name="Unlock").click()
    await expect(lockdown).to_contain_text("Unlocked")
    await lockdown.get_by_role("button", name="Re-generate API key").click()
    dialog = page.locator("dialog[open]")
    await dialog.get_by_role("checkbox").check()
    await submit_modal(page, password=None)  # unlocking just proved the password
    await expect(page.locator("#api-key")).to_contain_text("New key created")


async def test_lock_everything_now(page, server):
    await register(page, server, "bob")
    await page.get_by_role("button", name="Lock everything now").click()
    await expect(page).to_have_url(f"{server}/login?locked=1")
    await expect(page.get_by_role("status")).to_contain_text("Your account is locked")
    await sign_in(page, server, "bob")
    await page.locator("#api-key").get_by_role("button", name="View").click()
    await expect(page.locator("#toast")).to_contain_text("Your account is locked")
    await expect(page.locator("dialog[open]")).to_have_count(0)
