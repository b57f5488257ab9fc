"""Browser: add a trading account, list it without secrets, view with a code, edit, delete."""

from playwright.async_api import expect

from tests.e2e.flows import enrol_2fa, register, sign_in, sign_out, submit_modal, switch_on

SECRETS = {
    "password": "br0ker-Pass-9731",
    "totpKey": "KRSXG5CTMVRXEZLUKN2XAZLSKNSWG4TF",
    "apiKey": "kite_api_key_5f2c9a",
    "apiSecret": "kite_secret_7d41be90aa",
}


async def test_trading_account_lifecycle(page, server):
    await register(page, server)
    codes = await enrol_2fa(page)
    await switch_on(page, codes, "Credentials 2FA")
    await sign_out(page, server)  # a new session: no step-up window yet
    await sign_in(page, server)

    await page.get_by_role("link", name="Trading Accounts").click()
    await page.get_by_role("link", name="Add account").click()
    await page.select_option("#new-broker", "zerodha")
    await expect(page.locator("[data-credential=pin] [data-required-mark]")).to_be_hidden()
    await expect(page.locator("[data-credential=apiKey] [data-required-mark]")).to_be_visible()
    await page.fill("#new-pseudoAccName", "Main Zerodha")
    await page.fill("#new-loginId", "AB1234")
    for name, value in SECRETS.items():
        await page.fill(f"#new-{name}", value)
    await page.get_by_role("button", name="Add account").click()
    await expect(page.get_by_role("status")).to_have_text("Account added.")
    await expect(page).to_have_url(f"{server}/trading-accounts")  # a reload says it no more

    card = page.locator("article.account", has_text="Main Zerodha")
    await expect(card).to_contain_text("Zerodha · Kite Connect")
    await expect(card).to_contain_text("AB1234")
    html = await page.content()
    assert all(value not in html for value in SECRETS.values())

    await card.get_by_role("button", name="View credentials").click()
    await expect(page.locator("dialog[open] input[name=code]")).to_be_visible()
    await submit_modal(page, code=await codes.next())
    revealed = page.locator(".creds.revealed")
    await expect(revealed).to_contain_text(SECRETS["apiSecret"])
    await expect(revealed).to_contain_text("Hides in")
    await revealed.get_by_role("button", name="Hide").click()
    await expect(page.locator(".creds.revealed")).to_have_count(0)

    await card.get_by_role("button", name="Edit").click()  # the window is still fresh
    form = page.locator("form.account-form")
    await expect(form).to_be_visible()
    assert await form.locator("input[name=password]").input_value() == ""
    await form.locator("input[name=loginId]").fill("AB9999")
    await form.get_by_role("button", name="Save changes").click()
    card = page.locator("article.account", has_text="Main Zerodha")
    await expect(card).to_contain_text("AB9999")
    await expect(card).to_contain_text("Saved.")

    await card.get_by_role("button", name="View credentials").click()
    await expect(page.locator(".creds.revealed")).to_contain_text(SECRETS["password"])

    await card.get_by_role("button", name="Delete").click()
    dialog = page.locator("dialog[open]")
    await dialog.get_by_role("checkbox").check()
    await dialog.get_by_role("button", name="Delete account").click()
    await expect(page.locator("article.account")).to_have_count(0)
    await page.reload()
    await expect(page.get_by_text("No trading accounts yet")).to_be_visible()
