"""The redesigned Security page in Chromium: status, focus, layout that holds still."""

import re

import pytest
from playwright.async_api import expect

from tests.e2e.flows import PASSWORD, enrol_2fa, register, submit_modal


async def focused_id(page) -> str:
    """The id (or text) of the element that has focus."""
    return await page.evaluate(
        "(() => { const a = document.activeElement;"
        " return a ? (a.id || a.textContent.trim().slice(0, 40)) : ''; })()"
    )


async def test_status_follows_2fa_setup_without_a_reload(page, server):
    await register(page, server)
    status = page.locator("#status")
    await expect(status).to_contain_text("Off")
    await expect(page.locator("#danger")).to_be_hidden()

    await page.locator("#twofactor").get_by_role("button", name="Set up 2FA").click()
    await expect(page.locator("#twofactor .steps")).to_be_focused()  # focus follows the swap

    await enrol_2fa_from_open_setup(page)
    codes_box = page.locator(".codes-box")
    await expect(codes_box).to_be_focused()  # the codes are where the eyes go
    assert await page.evaluate("window.scrollY > 0 || innerHeight > 1500")
    await expect(status).to_contain_text("Sign-in code off")  # refreshed after Confirm
    await expect(page.locator("#danger")).to_contain_text("Remove 2FA")

    # Leaving before saying they are saved asks first (beforeunload is cancelled).
    assert await page.evaluate(LEAVE_IS_HELD)
    await page.get_by_role("button", name="I have saved them").click()
    await expect(page.locator(".codes-box")).to_have_count(0)
    await expect(page.locator("#tf-status")).to_be_focused()
    assert not await page.evaluate(LEAVE_IS_HELD)


LEAVE_IS_HELD = """(() => {
  const event = new Event("beforeunload", { cancelable: true });
  window.dispatchEvent(event);
  return event.defaultPrevented;
})()"""


async def enrol_2fa_from_open_setup(page) -> None:
    """Finish the set-up that is already open (enrol_2fa clicks Set up itself)."""
    section = page.locator("#twofactor")
    await section.get_by_role("button", name="Cancel set-up").click()
    await expect(section.get_by_role("button", name="Set up 2FA")).to_be_focused()
    await enrol_2fa(page)


async def test_hide_returns_focus_to_view_and_copy_keeps_its_place(page, server):
    await register(page, server)
    box = page.locator("#api-key")
    await box.get_by_role("button", name="View").click()
    await submit_modal(page)
    copy = box.get_by_role("button", name="Copy")
    await expect(copy).to_be_focused()
    before = await copy.bounding_box()
    box_before = await box.bounding_box()
    await copy.click()
    await expect(box.get_by_role("button", name="Copied")).to_be_visible()
    after = await box.get_by_role("button", name="Copied").bounding_box()
    box_after = await box.bounding_box()
    assert before == after, "the Copy button changed size or moved"
    assert box_before == box_after, "the key box jumped"
    await box.get_by_role("button", name="Hide").click()
    await expect(box.get_by_role("button", name="View")).to_be_focused()


async def test_times_read_local_with_ago_and_utc_on_hover(page, server):
    await register(page, server)
    stamp = page.locator("#sessions time").first
    await expect(stamp).to_contain_text("(just now)")
    title = await stamp.get_attribute("title")
    assert title and title.endswith(" UTC")


async def test_wrong_current_password_keeps_the_new_one_typed(page, server):
    await register(page, server)
    card = page.locator("#password")
    await card.get_by_text("Change your AutoTrader login password").click()
    await card.locator("#pw-current").fill("not my password at all")
    await card.locator("#pw-new").fill("a brand new passphrase 42")
    await card.get_by_role("button", name="Change password").click()
    await expect(card.get_by_role("alert")).to_be_visible()
    await expect(card.locator("#pw-new")).to_have_value("a brand new passphrase 42")
    await expect(card.locator("#pw-current")).to_be_focused()
    await card.locator("#pw-current").fill(PASSWORD)
    await card.get_by_role("button", name="Change password").click()
    await expect(card.get_by_role("status")).to_contain_text("Password changed")


@pytest.mark.parametrize("width", [375, 1280])
async def test_header_is_one_row(page, server, width):
    await page.set_viewport_size({"width": width, "height": 812})
    await register(page, server)
    rows = await page.evaluate(
        """[...document.querySelectorAll('.topbar > *')]
            .map(e => e.getBoundingClientRect()).filter(r => r.height > 0)
            .map(r => Math.round(r.top + r.height / 2))"""
    )
    assert len(rows) >= 2 and max(rows) - min(rows) <= 4, f"header rows at {width}px: {rows}"
    if width < 640:
        toggle = page.get_by_role("button", name="Menu")
        await toggle.click()
        await expect(toggle).to_have_attribute("aria-expanded", "true")
        await expect(page.get_by_role("link", name="Security", exact=True)).to_be_focused()
        await page.keyboard.press("Escape")
        await expect(toggle).to_have_attribute("aria-expanded", "false")
        await expect(page.get_by_role("link", name="Trading Accounts")).to_be_hidden()
    # The API key sits above the fold.
    key = await page.locator("#api-key").bounding_box()
    assert key and key["y"] + key["height"] <= 812


async def test_added_notice_goes_at_the_next_action_and_on_reload(page, server):
    await register(page, server)
    await page.goto(f"{server}/trading-accounts/new")
    await page.select_option("#new-broker", "zerodha")
    await page.fill("#new-pseudoAccName", "Main")
    await page.fill("#new-loginId", "AB12")
    for name, value in {"password": "pw-1", "totpKey": "KRSXG5CTMVRXEZLU"}.items():
        await page.fill(f"#new-{name}", value)
    await page.fill("#new-apiKey", "k1")
    await page.fill("#new-apiSecret", "s1")
    await page.click("button:has-text('Add account')")
    await expect(page.get_by_text("Account added.")).to_be_visible()
    # A reload will not say it again: app.js takes ?added=1 out of the address (once
    # the page has loaded, which can be just after the notice shows).
    await expect(page).not_to_have_url(re.compile(r"[?&]added="))
    await page.get_by_role("button", name="Delete").click()
    dialog = page.locator("dialog[open]")
    await dialog.get_by_role("checkbox").check()
    await submit_modal(page)
    await expect(page.get_by_text("Account added.")).to_have_count(0)
    await expect(page.get_by_role("status").filter(has_text="Deleted")).to_be_focused()
    await expect(page.get_by_text("No trading accounts yet")).to_be_visible()
