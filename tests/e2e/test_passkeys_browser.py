"""Browser: passkeys in Chromium with a virtual authenticator (DevTools WebAuthn domain).

The server runs on http://localhost (an IP address cannot be a WebAuthn RP id), with
AUTOTRADER_PUBLIC_URL set to the same origin.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.e2e.flows import (
    PASSWORD,
    REVEAL_SECONDS,
    register,
    serious_a11y_problems,
    sign_in,
    sign_out,
)
from tests.live_server import running_server

SHOTS = os.environ.get("PASSKEY_SCREENSHOTS")  # a folder: save screenshots of the new UI


@pytest.fixture
def server(tmp_path: Path):
    """The real server on http://localhost:<port> (overrides the 127.0.0.1 one)."""
    with running_server(
        tmp_path, host_name="localhost", AUTOTRADER_REVEAL_SECONDS=str(REVEAL_SECONDS)
    ) as base:
        yield base


async def virtual_authenticator(page: Page):
    """A CTAP2 platform authenticator that verifies the user and keeps credentials."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable", {"enableUI": False})
    options = {
        "protocol": "ctap2",
        "transport": "internal",
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": True,
        "automaticPresenceSimulation": True,
    }
    added = await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
    return cdp, added["authenticatorId"]


async def shot(page: Page, name: str) -> None:
    """Save a screenshot when PASSKEY_SCREENSHOTS names a folder (for looking at the UI)."""
    if SHOTS:
        size = page.viewport_size or {"width": 0}
        await page.screenshot(path=f"{SHOTS}/{name}-{size['width']}.png", full_page=True)


async def accessible(page: Page, state: str) -> None:
    """No serious or critical axe-core violation in this state."""
    problems = await serious_a11y_problems(page)
    assert not problems, f"{state}: {problems}"


async def use_passkey_in_dialog(page: Page) -> None:
    """Fill the password in the open step-up dialog and choose "Use a passkey instead"."""
    dialog = page.locator("dialog[open]")
    await dialog.locator("input[name=password]").fill(PASSWORD)
    await dialog.get_by_role("button", name="Use a passkey instead").click()


async def add_first_passkey(page: Page, name: str) -> None:
    """Add a passkey from the Security page to an account without 2FA."""
    section = page.locator("#passkeys")
    await section.get_by_role("button", name="Add a passkey").click()
    dialog = page.locator("dialog[open]")
    await expect(dialog).to_contain_text("Add a passkey")
    await accessible(page, "add-passkey dialog")
    await shot(page, "add-dialog")
    await dialog.get_by_label("Name for this passkey").fill(name)
    await dialog.locator("input[name=password]").fill(PASSWORD)
    await dialog.get_by_role("button", name="Create passkey").click()
    await expect(page.locator("dialog[open]")).to_have_count(0)
    await expect(section).to_contain_text(name)
    await expect(section).to_contain_text("Store these now")


async def switch_on_with_passkey(page: Page, name: str) -> None:
    """Turn on Login 2FA or Credentials 2FA, proving the second factor with the passkey."""
    row = page.locator("#twofactor li", has_text=name)
    await row.get_by_role("button", name="Turn on").click()
    await expect(page.locator("dialog[open]")).to_be_visible()
    await use_passkey_in_dialog(page)
    await expect(page.locator("dialog[open]")).to_have_count(0)
    await expect(page.locator("#twofactor li", has_text=name).locator(".pill")).to_have_text("On")


@pytest.mark.parametrize("size", [(1280, 800), (375, 812)])
async def test_passkey_sign_in_view_clone_and_remove(page, server, size):
    await page.set_viewport_size({"width": size[0], "height": size[1]})
    cdp, authenticator_id = await virtual_authenticator(page)
    await register(page, server, "erin")
    section = page.locator("#passkeys")
    await expect(section.get_by_role("button", name="Add a passkey")).to_be_visible()
    await accessible(page, "security page with passkeys section")

    await add_first_passkey(page, "Test laptop")
    await shot(page, "added")
    await accessible(page, "passkey added, recovery codes shown")
    # The 2FA section followed (out of band): 2FA is now set up, switches are offered.
    await expect(page.locator("#twofactor")).to_contain_text("Two-factor authentication is set up")

    await switch_on_with_passkey(page, "Login 2FA")
    await switch_on_with_passkey(page, "Credentials 2FA")

    # Sign in with Login 2FA using the passkey instead of a code.
    await sign_out(page, server)
    await sign_in(page, server, "erin")
    await expect(page).to_have_url(f"{server}/login/code")
    await accessible(page, "Login 2FA page with passkey")
    await shot(page, "login-code")
    await page.get_by_role("button", name="Use a passkey").click()
    await expect(page).to_have_url(f"{server}/settings/security")

    # View the API key with Credentials 2FA, the passkey as the second factor.
    await page.locator("#api-key").get_by_role("button", name="View").click()
    dialog = page.locator("dialog[open]")
    await expect(dialog.get_by_role("button", name="Use a passkey instead")).to_be_visible()
    await accessible(page, "step-up dialog offering a passkey")
    await shot(page, "stepup")
    await use_passkey_in_dialog(page)
    await expect(page.locator("#api-key-value")).to_contain_text("at_")
    await expect(page.locator("dialog[open]")).to_have_count(0)

    # A cloned authenticator: the same key, its counter reset. Refused and recorded.
    credentials = (
        await cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
    )["credentials"]
    assert len(credentials) == 1
    original = credentials[0]
    assert original["signCount"] >= 3
    await cdp.send("WebAuthn.clearCredentials", {"authenticatorId": authenticator_id})
    clone = {**original, "signCount": 0}
    await cdp.send(
        "WebAuthn.addCredential", {"authenticatorId": authenticator_id, "credential": clone}
    )
    await page.reload()
    # (View would not ask again inside the step-up window; a 2FA change always asks.)
    row = page.locator("#twofactor li", has_text="Login 2FA")
    await row.get_by_role("button", name="Turn off").click()
    await use_passkey_in_dialog(page)
    dialog = page.locator("dialog[open]")
    await expect(dialog.get_by_role("alert")).to_contain_text("counter went backwards")
    await accessible(page, "step-up dialog refusing a cloned passkey")
    await page.keyboard.press("Escape")
    await page.reload()
    await expect(page.locator("#activity")).to_contain_text("it may have been copied")
    await expect(page.locator("#twofactor li", has_text="Login 2FA").locator(".pill")).to_have_text(
        "On"
    )

    # The genuine authenticator (counter ahead) removes the passkey: the last second
    # factor, so the dialog asks for confirmation and 2FA turns off.
    await cdp.send("WebAuthn.clearCredentials", {"authenticatorId": authenticator_id})
    genuine = {**original, "signCount": original["signCount"] + 10}
    await cdp.send(
        "WebAuthn.addCredential", {"authenticatorId": authenticator_id, "credential": genuine}
    )
    await section.get_by_role("button", name="Remove passkey Test laptop").click()
    dialog = page.locator("dialog[open]")
    await expect(dialog).to_contain_text("last second factor")
    await accessible(page, "remove-passkey dialog")
    await shot(page, "remove-dialog")
    await dialog.get_by_role("checkbox").check()
    await use_passkey_in_dialog(page)
    await expect(page.locator("dialog[open]")).to_have_count(0)
    await expect(section).to_contain_text("No passkeys yet")
    await expect(page.locator("#twofactor")).to_contain_text("Two-factor authentication is off")


async def test_without_webauthn_the_option_does_not_show(browser, server):
    context = await browser.new_context()
    # A browser without WebAuthn: the page must work and offer no passkey button.
    await context.add_init_script("delete window.PublicKeyCredential;")
    page = await context.new_page()
    await register(page, server, "frank")
    section = page.locator("#passkeys")
    await expect(section).to_contain_text("No passkeys yet")
    await expect(section.get_by_role("button", name="Add a passkey")).to_be_hidden()
    await expect(section).to_contain_text("This browser cannot create passkeys")
    await context.close()


async def test_passkey_only_account_adds_an_authenticator_app(page, server):
    from tests.e2e.flows import Codes

    await virtual_authenticator(page)
    await register(page, server, "gina")
    await add_first_passkey(page, "Only key")
    await page.reload()
    section = page.locator("#twofactor")
    await section.get_by_role("button", name="Set up an authenticator app").click()
    await section.get_by_text("Can't scan it?").click()
    secret = (await section.locator("#totp-secret").inner_text()).replace(" ", "")
    password = section.locator("input[name=password]")
    if await password.count():  # asked unless the password was proven a moment ago
        await password.fill(PASSWORD)
    await section.locator("input[name=code]").fill(await Codes(secret).next())
    await accessible(page, "authenticator set-up confirmed with a passkey")
    await shot(page, "app-setup")
    await section.get_by_role("button", name="Confirm with a passkey").click()
    await expect(section).to_contain_text("Store these now")
    await expect(section).not_to_contain_text("Set up an authenticator app")
