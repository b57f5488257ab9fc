"""Browser: enrol 2FA from the typed secret, Login 2FA, a replayed code, a recovery code."""

from playwright.async_api import expect

from tests.e2e.flows import PASSWORD, Codes, register, sign_in, sign_out, submit_modal


async def test_enrol_and_sign_in_with_codes(page, server):
    await register(page, server)
    section = page.locator("#twofactor")
    await section.get_by_role("button", name="Set up 2FA").click()
    await expect(section.locator("svg")).to_be_visible()
    await section.get_by_text("Can't scan it?").click()
    secret = (await section.locator("#totp-secret").inner_text()).replace(" ", "")
    assert len(secret) == 32
    codes = Codes(secret)

    await section.locator("input[name=password]").fill(PASSWORD)
    await section.locator("input[name=code]").fill(await codes.next())
    await section.get_by_role("button", name="Confirm").click()
    await expect(section).to_contain_text("Store these now")
    recovery = [c.strip() for c in await section.locator("#recovery-codes li").all_inner_texts()]
    assert len(recovery) == 10

    async with page.expect_download() as download_info:
        await section.get_by_role("button", name="Download (.txt)").click()
    download = await download_info.value
    saved = (await download.path()).read_text()
    assert all(code in saved for code in recovery)

    await section.get_by_role("button", name="Turn on").first.click()
    await expect(page.locator("dialog[open]")).to_contain_text("Turn on Login 2FA")
    await submit_modal(page, code=await codes.next())
    await expect(page.locator("dialog[open]")).to_have_count(0)
    await expect(section.locator("li", has_text="Login 2FA").locator(".pill")).to_have_text("On")

    await sign_out(page, server)
    await sign_in(page, server)
    await expect(page).to_have_url(f"{server}/login/code")
    code = await codes.next()
    await page.fill("#code", code)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{server}/settings/security")

    await sign_out(page, server)
    await sign_in(page, server)
    await page.fill("#code", code)
    await page.click("button[type=submit]")
    await expect(page.get_by_role("alert")).to_contain_text("This code was already used")
    await expect(page.locator("#code")).to_have_value(code)

    await page.fill("#code", recovery[0])
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{server}/settings/security")
    await expect(page.locator("#codes-left")).to_have_text("9 of 10 left")


async def test_credentials_2fa_guards_the_api_key_then_2fa_is_removed(page, server):
    from tests.e2e.flows import enrol_2fa, switch_on

    await register(page, server, "dave")
    codes = await enrol_2fa(page)
    await switch_on(page, codes, "Credentials 2FA")
    await sign_out(page, server)
    await sign_in(page, server, "dave")  # no Login 2FA: straight in

    key_box = page.locator("#api-key")
    await key_box.get_by_role("button", name="View").click()
    dialog = page.locator("dialog[open]")
    await expect(dialog.locator("input[name=code]")).to_be_visible()
    await submit_modal(page, code="000000")
    await expect(dialog.get_by_role("alert")).to_contain_text("not correct")
    await submit_modal(page, code=await codes.next())
    old_key = await page.locator("#api-key-value").inner_text()

    await sign_out(page, server)
    await sign_in(page, server, "dave")
    await page.locator("#api-key").get_by_role("button", name="Re-generate").click()
    dialog = page.locator("dialog[open]")
    await dialog.get_by_role("checkbox").check()
    await submit_modal(page, code=await codes.next())
    new_key = await page.locator("#api-key-value").inner_text()
    assert new_key != old_key

    section = page.locator("#twofactor")
    await section.get_by_role("button", name="Generate new codes").click()
    dialog = page.locator("dialog[open]")
    await dialog.get_by_role("checkbox").check()
    await submit_modal(page, code=codes.recovery[0])  # a recovery code works here too
    await expect(section).to_contain_text("Store these now")
    fresh = [c.strip() for c in await section.locator("#recovery-codes li").all_inner_texts()]
    assert len(fresh) == 10 and codes.recovery[1] not in fresh

    await page.locator("#danger").get_by_role("button", name="Remove 2FA").click()
    dialog = page.locator("dialog[open]")
    await dialog.get_by_role("checkbox").check()
    await submit_modal(page, code=codes.recovery[1])  # the old set died with the new one
    await expect(dialog.get_by_role("alert")).to_contain_text("not correct")
    await submit_modal(page, code=fresh[0])
    await expect(page.locator("#twofactor")).to_contain_text("Two-factor authentication is off")
