"""Steps a trader takes in the browser, shared by the e2e tests."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from webapp import totp

PASSWORD = "correct horse battery staple"


def register(page: Page, base: str, username: str = "alice") -> None:
    """Sign up through the form and land on Settings → Security."""
    page.goto(f"{base}/register")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/settings/security")
    expect(page.get_by_role("heading", name="Security", exact=True)).to_be_visible()


def sign_in(page: Page, base: str, username: str = "alice", password: str = PASSWORD) -> None:
    """Fill the sign-in form."""
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")


def sign_out(page: Page, base: str) -> None:
    """Click Sign out."""
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{base}/login")


def submit_modal(page: Page, password: str | None = PASSWORD, code: str | None = None) -> None:
    """Fill the step-up dialog and submit it."""
    dialog = page.locator("dialog[open]")
    expect(dialog).to_be_visible()
    if password is not None:
        dialog.locator("input[name=password]").fill(password)
    if code is not None:
        dialog.locator("input[name=code]").fill(code)
    dialog.locator("button[type=submit]").click()


class Codes:
    """Codes from the trader's authenticator app, each for a newer time-step than the last."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.last_step = -1

    def next(self) -> str:
        """A valid code whose step is newer than any used so far (waits if it must)."""
        while True:
            now = time.time()
            current = int(now // 30)
            step = max(self.last_step + 1, current - 1 if now % 30 < 20 else current)
            if step <= current + 1:
                self.last_step = step
                return totp.code_at(self.secret, step * 30)
            time.sleep(1)
