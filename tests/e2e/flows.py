"""Steps a trader takes in the browser, shared by the e2e tests."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from webapp import totp

PASSWORD = "correct horse battery staple"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The server the browser tests start shows a revealed key this long.
REVEAL_SECONDS = 3


async def register(page: Page, base: str, username: str = "alice") -> None:
    """Sign up through the form and land on Settings → Security."""
    await page.goto(f"{base}/register")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{base}/settings/security")
    await expect(page.get_by_role("heading", name="Security", exact=True)).to_be_visible()


async def sign_in(page: Page, base: str, username: str = "alice", password: str = PASSWORD) -> None:
    """Fill the sign-in form."""
    await page.goto(f"{base}/login")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("button[type=submit]")


async def sign_out(page: Page, base: str) -> None:
    """Click Sign out."""
    await page.get_by_role("button", name="Sign out", exact=True).click()
    await expect(page).to_have_url(f"{base}/login")


async def submit_modal(
    page: Page, password: str | None = PASSWORD, code: str | None = None
) -> None:
    """Fill the step-up dialog and submit it."""
    dialog = page.locator("dialog[open]")
    await expect(dialog).to_be_visible()
    if password is not None:
        await dialog.locator("#stepup-password").fill(password)
    if code is not None:
        await dialog.locator("#stepup-code").fill(code)
    await dialog.locator("button[type=submit]").click()


class Codes:
    """Codes from the trader's authenticator app, each for a newer time-step than the last."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.last_step = -1
        self.recovery: list[str] = []  # filled in by enrol_2fa

    async def next(self) -> str:
        """A valid code whose step is newer than any used so far (waits if it must)."""
        while True:
            now = time.time()
            current = int(now // 30)
            step = max(self.last_step + 1, current - 1 if now % 30 < 20 else current)
            if step <= current + 1:
                self.last_step = step
                return totp.code_at(self.secret, step * 30)
            await asyncio.sleep(1)


async def enrol_2fa(page: Page) -> Codes:
    """Set up 2FA from the typed secret on the Security page; returns the trader's app."""
    section = page.locator("#twofactor")
    await section.get_by_role("button", name="Set up 2FA").click()
    await section.get_by_text("Can't scan it?").click()
    secret = (await section.locator("#totp-secret").inner_text()).replace(" ", "")
    codes = Codes(secret)
    password = section.locator("input[name=password]")
    if await password.count():  # asked unless a step-up window is still fresh
        await password.fill(PASSWORD)
    await section.locator("input[name=code]").fill(await codes.next())
    await section.get_by_role("button", name="Confirm").click()
    await expect(section).to_contain_text("Store these now")
    codes.recovery = [
        c.strip() for c in await section.locator("#recovery-codes li").all_inner_texts()
    ]
    return codes


async def switch_on(page: Page, codes: Codes, name: str) -> None:
    """Turn on Login 2FA or Credentials 2FA through its modal."""
    row = page.locator("#twofactor li", has_text=name)
    await row.get_by_role("button", name="Turn on").click()
    await submit_modal(page, code=await codes.next())
    await expect(page.locator("dialog[open]")).to_have_count(0)
    await expect(page.locator("#twofactor li", has_text=name).locator(".pill")).to_have_text("On")


AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"


async def serious_a11y_problems(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not AXE.exists():
        if os.environ.get("CI"):
            pytest.fail("axe-core is required in CI (scripts/test installs it with npm)")
        pytest.skip("axe-core not installed: npm install --prefix tests/e2e")
    if not await page.evaluate("typeof axe !== 'undefined'"):
        await page.evaluate(AXE.read_text())  # evaluated by the test, not served by the app
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def no_overflow(page: Page) -> None:
    """Nothing wider than the viewport, and every visible button inside it sideways."""
    width = await page.evaluate("document.documentElement.clientWidth")
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"page is {scroll}px wide in a {width}px viewport"
    outside = await page.evaluate(
        """w => [...document.querySelectorAll('button, a.btn')].filter(b => {
            const r = b.getBoundingClientRect();
            return r.width > 0 && (r.left < 0 || r.right > w + 1);
        }).map(b => b.textContent.trim())""",
        width,
    )
    assert not outside, f"buttons outside the viewport: {outside}"


async def create_bot_key(
    page: Page, name: str, *, allow: str = "", manage: bool = False, expires: str = ""
) -> str:
    """Security page → Keys for bots → New key → the step-up; returns the key shown once."""
    section = page.locator("#named-keys")
    await section.get_by_role("button", name="New key").click()
    form = page.locator("#new-key-form")
    await form.get_by_label("Name").fill(name)
    if manage:
        await form.locator("input[name=perm_manage]").check()
    await form.get_by_label("Allowed addresses").fill(allow)
    if expires:
        await form.get_by_label("Expires on").fill(expires)
    await form.get_by_role("button", name="Create key").click()
    created = page.locator("#created-key-value, dialog[open]").first
    await expect(created).to_be_visible()
    if await page.locator("dialog[open]").count():  # no fresh step-up window
        await submit_modal(page)
    value = page.locator("#created-key-value")
    await expect(value).to_be_visible()
    return await value.inner_text()


async def escape_closes_and_refocuses(page: Page, button) -> None:
    """``button`` opens a dialog; Escape closes it and gives the focus back to ``button``."""
    await button.click()
    await expect(page.locator("dialog[open]")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(page.locator("dialog")).to_have_count(0)
    await expect(button).to_be_focused()
