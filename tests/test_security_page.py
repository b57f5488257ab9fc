"""The Security page as a trader reads it: live status, messages that say what happened."""

import re

from sqlmodel import select

from tests.helpers import CREDS, NEW, PASSWORD, Trader, add, api, change_2fa, enrol, make_client
from webapp import api_usage
from webapp.models import SecurityEvent

STATUS = "/settings/security/status"


def section(html: str, marker: str) -> str:
    """The HTML from ``marker`` on."""
    return html[html.index(marker) :]


async def test_status_strip_says_2fa_key_use_and_sessions(app, client, trader, clock):
    page = (await client.get("/settings/security")).text
    strip = page[page.index('id="status"') : page.index("</ul>", page.index('id="status"'))]
    assert "Off" in strip and "Set up 2FA" in strip
    assert "Not used yet" in strip and "1 active" in strip
    assert 'id="danger" hidden' in page  # nothing dangerous to offer yet

    await enrol(trader, clock)
    await change_2fa(trader, clock, "login-on")
    key = await trader.reveal_key()
    assert (await api(client, "GET", "/api/v1/me", key)).status_code == 200
    await api_usage.flush(app.state.ctx)  # what the writer task does every second
    refreshed = (await trader.hx("GET", STATUS)).text
    assert "<strong>On</strong>" in refreshed and "Sign-in code on" in refreshed
    assert "credentials code off" in refreshed
    assert "last call <time" in refreshed
    # The danger zone comes along out of band, with Remove 2FA now that 2FA is on.
    danger = section(refreshed, 'id="danger"')
    assert 'hx-swap-oob="true"' in danger and "Remove 2FA" in danger


async def test_this_device_is_listed_first(app, client, trader):
    async with make_client(app) as laptop:
        await Trader(laptop).login()  # newer, so it would come first by time
        page = (await client.get("/settings/security")).text
    first = section(page, 'id="sessions"').split("<li>")[1]
    assert "This device" in first


async def test_times_are_machine_readable_with_utc_on_hover(client, trader):
    page = (await client.get("/settings/security")).text
    stamps = re.findall(r'<time datetime="([^"]+)" data-local title="([^"]+)">', page)
    assert len(stamps) >= 4  # key created, session signed in / last seen, activity
    assert all(title.endswith(" UTC") for _, title in stamps)


async def test_regenerate_refreshes_created_and_last_used(app, client, trader):
    key = await trader.reveal_key()
    assert (await api(client, "GET", "/api/v1/me", key)).status_code == 200
    await api_usage.flush(app.state.ctx)  # what the writer task does every second
    masked = await trader.hx("GET", "/settings/security/api-key/masked")
    assert "last used by the API <time" in masked.text
    regenerate = {"step": "verify", "confirm": "yes"}
    fresh = await trader.hx("POST", "/settings/security/api-key/regenerate", regenerate)
    assert fresh.status_code == 200
    assert "Created <time" in fresh.text and "last used by the API never" in fresh.text


async def test_a_recovery_code_sign_in_says_how_many_are_left(app, client, trader, clock):
    await enrol(trader, clock)
    await change_2fa(trader, clock, "login-on")
    await trader.logout()
    await trader.login()
    await trader.page("/login/code")
    done = await trader.form("/login/code", {"code": trader.recovery[0]})
    assert done.status_code == 303
    page = (await client.get("/settings/security")).text
    assert "You signed in with a recovery code. 9 of 10 are left" in page
    again = (await client.get("/settings/security")).text
    assert "You signed in with a recovery code" not in again  # said once


async def test_a_code_sign_in_says_nothing_about_recovery_codes(app, client, trader, clock):
    await enrol(trader, clock)
    await change_2fa(trader, clock, "login-on")
    await trader.logout()
    await trader.login()
    clock.advance(30)
    await trader.page("/login/code")
    assert (await trader.form("/login/code", {"code": trader.code(clock)})).status_code == 303
    assert "recovery code" not in (await client.get("/settings/security")).text.split("Danger")[0]


async def test_signed_out_elsewhere_is_told_so(app, client, trader):
    async with make_client(app) as laptop:
        await Trader(laptop).login()
        await trader.hx("POST", "/settings/security/sessions/others/sign-out")
        assert (await laptop.get("/settings/security")).status_code == 303
        login = await laptop.get("/login")
    assert "You were signed out: from another device" in login.text
    assert (await client.get("/login")).status_code == 303  # this one is still signed in


async def test_an_idle_session_is_told_why_it_ended(client, trader, clock, settings):
    clock.advance(settings.idle_timeout_seconds + 1)
    assert (await client.get("/settings/security")).status_code == 303
    assert "after a while without activity" in (await client.get("/login")).text


async def test_a_new_password_equal_to_the_current_one_is_refused(client, trader):
    data = {"password": PASSWORD, "new_password": PASSWORD}
    response = await trader.hx("POST", "/settings/security/password", data)
    assert response.status_code == 422
    assert "The new password is your current one" in response.text
    await trader.logout()
    assert (await trader.login()).status_code == 303  # nothing changed


async def test_step_up_intro_says_a_code_is_needed(client, trader, clock):
    await enrol(trader, clock)
    await change_2fa(trader, clock, "credentials-on")
    await trader.logout()
    await trader.login()
    modal = await trader.hx("POST", "/settings/security/api-key/view")
    assert "You will also need a 6-digit code" in modal.text


async def test_a_wrong_code_keeps_the_typed_password(client, trader, clock):
    await enrol(trader, clock)
    await change_2fa(trader, clock, "credentials-on")
    await trader.logout()
    await trader.login()
    wrong = await trader.view_key(code="000000")
    assert wrong.status_code == 422
    # htmx keeps the typed password input (hx-preserve) instead of an empty one
    field = re.search(r'<input id="stepup-password"[^>]*>', wrong.text)
    assert field and "hx-preserve" in field.group(0)


async def test_deleting_says_deleted_and_shows_the_empty_state(app, trader):
    account_id = await add(trader)
    gone = await trader.hx(
        "POST",
        f"/trading-accounts/{account_id}/delete",
        {"step": "verify", "password": PASSWORD, "confirm": "yes"},
    )
    assert "Deleted “Main”" in gone.text and "No trading accounts yet" in gone.text


async def test_a_long_nickname_is_refused_whole_with_a_message(trader):
    long_name = "My long-term swing trading account with Zerodha"  # 48 characters
    await trader.page("/trading-accounts/new")
    response = await trader.form("/trading-accounts", {**NEW, **CREDS, "pseudoAccName": long_name})
    assert response.status_code == 422
    assert "Nickname: 1 to 40 letters" in response.text
    assert f'value="{long_name}"' in response.text  # shown whole, not cut mid-word


async def test_edit_activity_names_only_the_fields_that_changed(app, trader):
    account_id = await add(trader)
    await trader.reveal_key()  # opens the step-up window: the edit needs no password field
    unchanged_public = {**NEW, **dict.fromkeys(CREDS, "")}
    await trader.hx(
        "POST",
        f"/trading-accounts/{account_id}",
        {**unchanged_public, "loginId": "ZZ9999", "pin": "111222", "step": "verify"},
    )
    async with app.state.ctx.db() as db:
        rows = (await db.exec(select(SecurityEvent))).all()
    edited = [e.detail for e in rows if e.kind == "credentials_edited"]
    assert edited == ["Main: loginId, pin"], edited


async def test_an_expired_confirmation_says_so(client, trader, clock, settings):
    first = await trader.hx("POST", "/settings/security/api-key/view")
    assert "confirmation expired" not in first.text  # never confirmed yet: nothing expired
    await trader.reveal_key()
    clock.advance(settings.stepup_seconds + 1)
    again = await trader.hx("POST", "/settings/security/api-key/view")
    assert "Your confirmation expired — enter your password again." in again.text
