"""2FA: enrolment, Login 2FA, Credentials 2FA, recovery codes, locks, removal."""

import os
import shutil
import subprocess

import pytest
from sqlmodel import select

from tests import databases
from tests.helpers import (
    PASSWORD,
    Trader,
    change_2fa,
    enrol,
    key_in,
    make_client,
    recovery_codes_in,
    secret_in,
    session_payload,
)
from webapp import totp
from webapp.models import RecoveryCode, SecurityEvent, User


async def user_row(app) -> User:
    async with app.state.ctx.db() as db:
        return (await db.exec(select(User))).first()


async def event_kinds(app) -> list[str]:
    async with app.state.ctx.db() as db:
        return [e.kind for e in (await db.exec(select(SecurityEvent))).all()]


# ---- enrolment ----


async def test_setup_shows_qr_and_grouped_secret(trader):
    response = await trader.hx("POST", "/settings/security/2fa/setup")
    assert response.status_code == 200
    assert "<svg" in response.text and "Can't scan it?" in response.text
    secret = secret_in(response.text)
    assert len(secret) == 32
    assert 'inputmode="numeric"' in response.text
    assert 'autocomplete="one-time-code"' in response.text


async def test_reload_keeps_the_same_pending_secret_until_it_expires(client, trader, clock):
    first = secret_in((await trader.hx("POST", "/settings/security/2fa/setup")).text)
    page = await client.get("/settings/security")
    assert secret_in(page.text) == first
    again = secret_in((await trader.hx("POST", "/settings/security/2fa/setup")).text)
    assert again == first
    clock.advance(601)
    page = await client.get("/settings/security")
    assert "totp-secret" not in page.text
    assert secret_in((await trader.hx("POST", "/settings/security/2fa/setup")).text) != first


async def test_pending_secret_is_encrypted_and_never_in_the_cookie(app, client, trader):
    secret = secret_in((await trader.hx("POST", "/settings/security/2fa/setup")).text)
    row = await user_row(app)
    assert row.totp_pending.startswith("v1.") and secret not in row.totp_pending
    assert secret not in client.cookies.get("autotrader_session")
    assert secret not in str(session_payload(client))


async def test_confirm_enrols_and_shows_ten_recovery_codes_once(app, client, trader, clock):
    response = await enrol(trader, clock)
    assert response.status_code == 200
    assert len(trader.recovery) == 10
    assert "Store these now" in response.text and "Download (.txt)" in response.text
    row = await user_row(app)
    assert row.totp_secret is not None and row.totp_pending is None
    assert not row.login_2fa and not row.credentials_2fa
    page = await client.get("/settings/security")
    assert recovery_codes_in(page.text) == []
    assert "10 of 10 left" in page.text
    cookie = client.cookies.get("autotrader_session")
    assert trader.totp_secret not in cookie and trader.totp_secret not in str(
        session_payload(client)
    )


async def test_confirm_with_wrong_code_keeps_pending(app, trader, clock):
    started = await trader.hx("POST", "/settings/security/2fa/setup")
    secret = secret_in(started.text)
    wrong = await trader.hx(
        "POST", "/settings/security/2fa/confirm", {"code": "000000", "password": PASSWORD}
    )
    assert wrong.status_code == 422
    assert "not correct" in wrong.text and 'value="000000"' in wrong.text
    assert (await user_row(app)).totp_secret is None
    right = await trader.hx(
        "POST", "/settings/security/2fa/confirm", {"code": totp.code_at(secret, clock.now)}
    )  # the password opened the window, so the code alone finishes
    assert right.status_code == 200 and len(recovery_codes_in(right.text)) == 10


async def test_confirm_needs_the_password_without_a_window(trader, clock):
    secret = secret_in((await trader.hx("POST", "/settings/security/2fa/setup")).text)
    response = await trader.hx(
        "POST",
        "/settings/security/2fa/confirm",
        {"code": totp.code_at(secret, clock.now), "password": "wrong password!"},
    )
    assert response.status_code == 422 and "password is not correct" in response.text


async def test_after_enrolment_the_database_does_not_hold_the_secret(
    app, trader, clock, stored_bytes
):
    await enrol(trader, clock)
    data = await stored_bytes()
    raw = __import__("base64").b32decode(trader.totp_secret)
    assert trader.totp_secret.encode() not in data and raw not in data
    for code in trader.recovery:
        assert code.encode() not in data and code.replace("-", "").encode() not in data


async def test_qr_decodes_to_the_same_uri_as_the_text_secret(trader, tmp_path):
    if not shutil.which("zbarimg") or not shutil.which("chromium"):
        if os.environ.get("CI"):
            pytest.fail("zbarimg and chromium are required in CI")
        pytest.skip("zbarimg (Debian zbar-tools) or chromium not installed")
    response = await trader.hx("POST", "/settings/security/2fa/setup")
    import re

    svg = re.search(r"<svg.*?</svg>", response.text, re.S).group(0)
    svg_path = tmp_path / "qr.html"  # the page's inline SVG, inside a page as the browser sees it
    svg_path.write_text(f"<!doctype html><body>{svg}</body>")
    png = tmp_path / "qr.png"
    _svg_to_png(svg_path, png)
    decoded = subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(png)], capture_output=True, text=True, check=True
    ).stdout.strip()
    expected = totp.provisioning_uri(secret_in(response.text), "alice", "AutoTrader")
    assert decoded == expected


def _svg_to_png(svg_path, png_path) -> None:
    """Rasterise the page's SVG with headless Chromium (a real renderer)."""
    subprocess.run(
        [
            shutil.which("chromium"),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            f"--screenshot={png_path}",
            "--window-size=400,400",
            svg_path.as_uri(),
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )


# ---- code checks: replay, window, lock ----


async def test_a_code_works_once(app, trader, clock):
    await enrol(trader, clock)  # the enrolment code used this step
    again = await change_2fa(trader, clock, "credentials-on", code=trader.code(clock))
    assert again.status_code == 422
    assert "This code was already used — wait for the next one." in again.text
    clock.advance(30)
    fresh = await change_2fa(trader, clock, "credentials-on", code=trader.code(clock))
    assert fresh.status_code == 200
    assert "code_replay_refused" in await event_kinds(app)


async def test_codes_lock_after_five_failures(app, trader, clock):
    await enrol(trader, clock)
    for _ in range(4):
        wrong = await change_2fa(trader, clock, "login-on", code="000000")
        assert wrong.status_code == 422
    locked = await change_2fa(trader, clock, "login-on", code="000000")
    assert locked.status_code == 429 and "30 seconds" in locked.text
    clock.advance(10)
    right_but_locked = await change_2fa(trader, clock, "login-on", code=trader.code(clock))
    assert right_but_locked.status_code == 429
    clock.advance(21)
    assert (await change_2fa(trader, clock, "login-on")).status_code == 200


async def test_lock_doubles_and_is_capped(trader, clock):
    await enrol(trader, clock)
    message = ""
    for _ in range(12):
        for _ in range(5):
            message = (await change_2fa(trader, clock, "login-on", code="000000")).text
        clock.advance(901)
    assert "15 minutes" in message


@pytest.mark.parametrize("bad", ["12345", "abcdef", "1234567", "١٢٣٤٥٦"])
async def test_bad_code_shapes_are_refused_before_any_check(app, trader, clock, bad):
    await enrol(trader, clock)
    response = await change_2fa(trader, clock, "login-on", code=bad)
    assert response.status_code == 422
    assert "6-digit code" in response.text
    assert "code_failed" not in await event_kinds(app)


# ---- switches and their guard ----


@pytest.mark.parametrize("action", ["login-on", "credentials-on", "recovery-codes", "remove"])
async def test_changes_always_ask_password_and_code(trader, clock, action):
    await enrol(trader, clock)
    await trader.reveal_key()  # a fresh window must not be enough
    form = await trader.hx("GET", f"/settings/security/2fa/{action}")
    assert 'name="password"' in form.text and 'name="code"' in form.text
    no_code = await trader.hx(
        "POST", f"/settings/security/2fa/{action}", {"step": "verify", "password": PASSWORD}
    )
    assert no_code.status_code == 422


async def test_changes_sign_out_other_sessions(app, client, trader, clock):
    await enrol(trader, clock)
    async with make_client(app) as laptop:
        other = Trader(laptop)
        await other.login()
        assert (await laptop.get("/settings/security")).status_code == 200
        response = await change_2fa(trader, clock, "login-on")
        assert response.status_code == 200 and response.headers["HX-Trigger"] == "stepup-done"
        assert (await laptop.get("/settings/security")).status_code == 303
    assert (await client.get("/settings/security")).status_code == 200


async def test_switches_turn_on_and_off_independently(app, trader, clock):
    await enrol(trader, clock)
    await change_2fa(trader, clock, "login-on")
    row = await user_row(app)
    assert row.login_2fa and not row.credentials_2fa
    await change_2fa(trader, clock, "credentials-on")
    await change_2fa(trader, clock, "login-off")
    row = await user_row(app)
    assert not row.login_2fa and row.credentials_2fa


async def test_changes_need_enrolment(trader):
    response = await trader.hx(
        "POST", "/settings/security/2fa/login-on", {"step": "verify", "password": PASSWORD}
    )
    assert response.status_code == 409 and "not set up" in response.text


# ---- Login 2FA ----


async def login_with_2fa(trader, clock):
    await enrol(trader, clock)
    await change_2fa(trader, clock, "login-on")
    await trader.logout()
    clock.advance(30)
    return await trader.login()


async def test_login_2fa_asks_for_a_code_on_its_own_step(client, trader, clock):
    response = await login_with_2fa(trader, clock)
    assert response.status_code == 303 and response.headers["location"] == "/login/code"
    page = await client.get("/login/code")
    assert 'autocomplete="one-time-code"' in page.text and 'inputmode="numeric"' in page.text


async def test_pending_sign_in_reaches_nothing_else(client, trader, clock):
    await login_with_2fa(trader, clock)
    for path in ["/settings/security", "/settings/security/api-key/masked"]:
        response = await client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/login/code"
    assert (await client.get("/api/v1/me")).status_code == 401
    payload = session_payload(client)
    assert "sid" not in payload and "pending_uid" in payload
    assert trader.totp_secret not in str(payload)


async def test_code_step_completes_sign_in_and_refuses_replay(client, trader, clock):
    await login_with_2fa(trader, clock)
    await trader.page("/login/code")
    code = trader.code(clock)
    done = await trader.form("/login/code", {"code": code})
    assert done.status_code == 303 and done.headers["location"] == "/settings/security"
    assert (await client.get("/settings/security")).status_code == 200
    await trader.page("/settings/security")
    await trader.logout()
    await trader.login()
    await trader.page("/login/code")
    replay = await trader.form("/login/code", {"code": code})
    assert replay.status_code == 422
    assert "already used" in replay.text


async def test_recovery_code_signs_in_once(app, client, trader, clock):
    await login_with_2fa(trader, clock)
    await trader.page("/login/code")
    code = trader.recovery[0]
    assert (await trader.form("/login/code", {"code": code.upper()})).status_code == 303
    page = await trader.page("/settings/security")
    assert "9 of 10 left" in page.text
    assert "recovery_code_used" in await event_kinds(app)
    await trader.logout()
    await trader.login()
    await trader.page("/login/code")
    again = await trader.form("/login/code", {"code": code})
    assert again.status_code == 422


async def test_pending_step_expires_after_five_minutes(client, trader, clock):
    await login_with_2fa(trader, clock)
    await trader.page("/login/code")
    clock.advance(301)
    response = await trader.form("/login/code", {"code": trader.code(clock)})
    assert response.status_code == 303 and response.headers["location"] == "/login?expired=1"


async def test_code_step_lock_applies_to_sign_in(client, trader, clock):
    await login_with_2fa(trader, clock)
    await trader.page("/login/code")
    statuses = [
        (await trader.form("/login/code", {"code": "000000"})).status_code for _ in range(5)
    ]
    assert statuses == [422, 422, 422, 422, 429]
    locked = await trader.form("/login/code", {"code": trader.code(clock)})
    assert locked.status_code == 429 and "Try again" in locked.text


# ---- Credentials 2FA on the API key ----


async def test_credentials_2fa_asks_for_a_code_on_view(client, trader, clock):
    await enrol(trader, clock)
    await change_2fa(trader, clock, "credentials-on")
    trader.client.cookies.clear()
    await trader.login()
    modal = await trader.hx("POST", "/settings/security/api-key/view", {})
    assert 'name="code"' in modal.text
    without = await trader.view_key()
    assert without.status_code == 422
    clock.advance(30)
    code = trader.code(clock)
    with_code = await trader.view_key(code=code)
    assert with_code.status_code == 200 and key_in(with_code.text)
    await trader.logout()  # a new session has no window: the same code again is a replay
    await trader.login()
    replay = await trader.view_key(code=code)
    assert replay.status_code == 422 and "already used" in replay.text


# ---- recovery codes, removal ----


async def test_fresh_recovery_set_kills_the_old_one(app, trader, clock):
    await enrol(trader, clock)
    old = list(trader.recovery)
    response = await change_2fa(trader, clock, "recovery-codes", confirm="yes")
    new = recovery_codes_in(response.text)
    assert len(new) == 10 and not set(new) & set(old)
    stale = await change_2fa(trader, clock, "login-on", code=old[1])
    assert stale.status_code == 422
    fresh = await change_2fa(trader, clock, "login-on", code=new[1])
    assert fresh.status_code == 200
    async with app.state.ctx.db() as db:
        rows = (await db.exec(select(RecoveryCode))).all()
    assert len(rows) == 10 and sum(r.used_at is not None for r in rows) == 1


async def test_remove_2fa(app, trader, clock):
    await enrol(trader, clock)
    await change_2fa(trader, clock, "login-on")
    response = await change_2fa(trader, clock, "remove", confirm="yes")
    assert response.status_code == 200 and "is off" in response.text
    row = await user_row(app)
    assert row.totp_secret is None and not row.login_2fa and row.recovery_key is None
    await trader.logout()
    assert (await trader.login()).headers["location"] == "/settings/security"


async def test_disable_2fa_command(app, trader, clock, settings):
    from webapp.ops import disable_two_factor

    await enrol(trader, clock)
    await change_2fa(trader, clock, "login-on")
    message = await disable_two_factor(settings, "alice")
    assert message.startswith("2FA removed for alice") and "1 session(s) signed out" in message
    assert (await trader.client.get("/settings/security")).status_code == 303
    assert (await user_row(app)).totp_secret is None
    assert "No user named" in await disable_two_factor(settings, "nobody")


def test_disable_2fa_cli_prints_what_it_did(tmp_path):
    import sys

    from webapp.vault import new_key_line

    env = {
        **os.environ,
        "AUTOTRADER_MASTER_KEYS": new_key_line("k1"),
        "AUTOTRADER_DATABASE_URL": databases.fresh_url(),
    }
    run = subprocess.run(
        [sys.executable, "-m", "webapp", "disable-2fa", "nobody", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert run.returncode == 1 and "No user named 'nobody'" in run.stdout
    helped = subprocess.run(
        [sys.executable, "-m", "webapp", "disable-2fa", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert helped.returncode == 0 and "USERNAME" in helped.stdout.upper()
