"""Accessibility (axe-core), keyboard use, layout at desktop and phone sizes, dark mode."""

import pytest
from playwright.async_api import expect

from tests.e2e.flows import (
    PASSWORD,
    enrol_2fa,
    escape_closes_and_refocuses,
    no_overflow,
    register,
    serious_a11y_problems,
    submit_modal,
)


async def check(page, state: str) -> None:
    problems = await serious_a11y_problems(page)
    assert not problems, f"{state}: {problems}"
    await no_overflow(page)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", [(1280, 800), (375, 812)])
async def test_every_page_and_modal_state(page, server, size, scheme):
    await page.set_viewport_size({"width": size[0], "height": size[1]})
    await page.emulate_media(color_scheme=scheme)
    await page.goto(f"{server}/login")
    await check(page, "login")
    await page.fill("#username", "nobody")
    await page.fill("#password", "wrong password!")
    await page.click("button[type=submit]")
    await check(page, "login error")
    await page.goto(f"{server}/register")
    await check(page, "register")
    await register(page, server)
    await check(page, "security page")
    toggle = page.get_by_role("button", name="Menu")
    if size[0] < 640:  # the phone header folds its links behind Menu
        await expect(page.get_by_role("link", name="Trading Accounts")).to_be_hidden()
        await toggle.click()
        await expect(page.get_by_role("link", name="Trading Accounts")).to_be_visible()
        await check(page, "phone menu open")
        await toggle.click()
    else:
        await expect(toggle).to_be_hidden()

    await page.locator("#api-key").get_by_role("button", name="View").click()
    await expect(page.locator("dialog[open]")).to_be_visible()
    await check(page, "view modal")
    await submit_modal(page, password="wrong password!")
    await expect(page.locator("dialog[open] [role=alert]")).to_be_visible()
    await check(page, "view modal error")
    await submit_modal(page)
    await expect(page.locator("#api-key-value")).to_be_visible()
    await check(page, "key revealed")
    await page.locator("#api-key").get_by_role("button", name="Re-generate").click()
    await check(page, "re-generate modal")
    await page.keyboard.press("Escape")

    codes = await enrol_2fa(page)
    await check(page, "recovery codes shown")
    await page.get_by_role("button", name="I have saved them").click()
    await page.reload()
    await check(page, "2FA enrolled, danger zone")
    await page.locator("#twofactor li", has_text="Login 2FA").get_by_role("button").click()
    await check(page, "2FA change modal")
    await submit_modal(page, code=await codes.next())

    await page.goto(f"{server}/trading-accounts")
    await check(page, "no trading accounts")
    await page.goto(f"{server}/trading-accounts/new")
    await check(page, "new account form")
    await page.select_option("#new-broker", "zerodha")
    await page.fill("#new-pseudoAccName", "Main")
    await page.fill("#new-loginId", "AB12")
    await page.click("button:has-text('Add account')")
    await check(page, "new account errors")
    for name, value in {
        "password": "pw-123",
        "totpKey": "KRSXG5CTMVRXEZLU",
        "apiKey": "k1",
        "apiSecret": "s1",
    }.items():
        await page.fill(f"#new-{name}", value)
    await page.click("button:has-text('Add account')")
    await check(page, "trading accounts list")
    await page.get_by_role("button", name="View credentials").click()
    await expect(page.locator(".creds.revealed")).to_be_visible()
    await check(page, "credentials revealed")
    await page.get_by_role("button", name="Edit").click()
    await expect(page.locator("form.account-form")).to_be_visible()
    await check(page, "edit form")
    await page.goto(f"{server}/nowhere")
    await check(page, "404 page")


async def test_api_key_flow_by_keyboard_alone(page, server):
    await register(page, server)
    view = page.locator("#api-key").get_by_role("button", name="View")
    for _ in range(40):  # Tab from the top of the page until View has focus
        await page.keyboard.press("Tab")
        if await view.evaluate("b => b === document.activeElement"):
            break
    await expect(view).to_be_focused()
    await page.keyboard.press("Enter")
    password = page.locator("dialog[open] input[name=password]")
    await expect(password).to_be_focused()
    for _ in range(8):  # focus stays trapped inside the dialog
        await page.keyboard.press("Tab")
        assert await page.evaluate("!!document.activeElement.closest('dialog[open]')")
    await password.focus()
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.locator("#api-key-value")).to_be_visible()
    copy = page.locator("#api-key").get_by_role("button", name="Copy")
    await expect(copy).to_be_focused()  # focus came back to the key box
    await page.keyboard.press("Enter")
    await expect(page.locator("#api-key").get_by_role("button", name="Copied")).to_be_visible()
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")  # Hide
    await expect(page.locator("#api-key-value")).to_have_count(0)
    # The masked box settles, then focuses its View button: move on only once htmx is
    # idle, or that focus lands after ours and Enter opens View instead.
    await expect(page.locator(".htmx-request, .htmx-settling, .htmx-swapping")).to_have_count(0)
    regenerate = page.locator("#api-key").get_by_role("button", name="Re-generate")
    await regenerate.focus()
    await expect(regenerate).to_be_focused()
    await page.keyboard.press("Enter")
    checkbox = page.locator("dialog[open] input[name=confirm]")
    await expect(checkbox).to_be_focused()
    await page.keyboard.press("Space")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")  # past Cancel to Re-generate
    await page.keyboard.press("Enter")
    await expect(page.locator("#api-key-value")).to_be_visible()


async def test_modal_escape_returns_focus_to_its_button(page, server):
    await register(page, server)
    regenerate = page.locator("#api-key").get_by_role("button", name="Re-generate")
    await escape_closes_and_refocuses(page, regenerate)


async def test_buttons_are_busy_and_not_double_submitted(page, server):
    await register(page, server)
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    view = page.locator("#api-key").get_by_role("button", name="View")
    await view.dblclick()
    await expect(page.locator("dialog[open]")).to_be_visible()
    assert len([u for u in posts if u.endswith("/api-key/view")]) == 1


async def test_dark_mode_follows_the_system(browser, server):
    context = await browser.new_context(color_scheme="dark")
    page = await context.new_page()
    await page.goto(f"{server}/login")
    background = await page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    await context.close()
    red, green, blue = (int(x) for x in background[4:-1].split(",")[:3])
    assert red + green + blue < 150, background
