"""Browser: enrol 2FA from the typed secret, Login 2FA, a replayed code, a recovery code."""

from playwright.sync_api import expect

from tests.e2e.flows import PASSWORD, Codes, register, sign_in, sign_out, submit_modal


def test_enrol_and_sign_in_with_codes(page, server):
    register(page, server)
    section = page.locator("#twofactor")
    section.get_by_role("button", name="Set up 2FA").click()
    expect(section.locator("svg")).to_be_visible()
    section.get_by_text("Can't scan it?").click()
    secret = section.locator("#totp-secret").inner_text().replace(" ", "")
    assert len(secret) == 32
    codes = Codes(secret)

    section.locator("input[name=password]").fill(PASSWORD)
    section.locator("input[name=code]").fill(codes.next())
    section.get_by_role("button", name="Confirm").click()
    expect(section).to_contain_text("Store these now")
    recovery = [c.strip() for c in section.locator("#recovery-codes li").all_inner_texts()]
    assert len(recovery) == 10

    with page.expect_download() as download_info:
        section.get_by_role("button", name="Download (.txt)").click()
    saved = download_info.value.path().read_text()
    assert all(code in saved for code in recovery)

    section.get_by_role("button", name="Turn on").first.click()
    expect(page.locator("dialog[open]")).to_contain_text("Turn on Login 2FA")
    submit_modal(page, code=codes.next())
    expect(page.locator("dialog[open]")).to_have_count(0)
    expect(section.locator("li", has_text="Login 2FA").locator(".pill")).to_have_text("On")

    sign_out(page, server)
    sign_in(page, server)
    expect(page).to_have_url(f"{server}/login/code")
    code = codes.next()
    page.fill("#code", code)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{server}/settings/security")

    sign_out(page, server)
    sign_in(page, server)
    page.fill("#code", code)
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("This code was already used")
    expect(page.locator("#code")).to_have_value(code)

    page.fill("#code", recovery[0])
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{server}/settings/security")
    expect(page.locator("#codes-left")).to_have_text("9 of 10 left")
