"""Lock-down (the lock link from an alert, Lock everything now, unlock) and the cool-down
after risky changes, through the real pages and the real API."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import select

from tests.alerting import LOCK_LINK, add_address, eml_files, read_eml, token_in
from tests.helpers import (
    PASSWORD,
    FrozenClock,
    Trader,
    add,
    change_2fa,
    csrf_from,
    enrol,
    fast_passwords,
    make_client,
)
from webapp.alerts import delivery
from webapp.app import create_app
from webapp.config import Settings
from webapp.models import SecurityEvent, SessionRecord

SUSPENDED = "This API key is suspended"


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock):
    """The app without its delivery task: each test delivers when it chooses."""
    application = create_app(settings, clock=clock, passwords=fast_passwords(), mail_worker=False)
    async with application.router.lifespan_context(application):
        yield application


async def me(client, key: str):
    """GET /api/v1/me with ``key``."""
    return await client.get("/api/v1/me", headers={"api-key": key})


async def live_sessions(app) -> int:
    """Sessions not ended."""
    async with app.state.ctx.db() as db:
        rows = (await db.exec(select(SessionRecord))).all()
    return sum(r.revoked_at is None for r in rows)


async def kinds(app) -> list[str]:
    """Every event kind recorded, oldest first."""
    async with app.state.ctx.db() as db:
        return [e.kind for e in (await db.exec(select(SecurityEvent))).all()]


async def lock_link(app, trader: Trader, settings: Settings) -> str:
    """An alert's lock token: add an address, view the key, deliver."""
    await add_address(trader, app, settings.data_dir)
    await trader.reveal_key()
    await delivery.deliver_due(app.state.ctx)
    return token_in(read_eml(eml_files(settings.data_dir)[-1]), LOCK_LINK)


async def test_lock_link_works_signed_out_once_and_suspends_keys(
    app, trader, settings, clock, caplog
):
    caplog.set_level(logging.INFO)
    token = await lock_link(app, trader, settings)
    key = trader.api_key
    async with make_client(app) as phone:
        other = Trader(phone)
        await other.login()
        assert await live_sessions(app) == 2
        async with make_client(app) as stranger:  # the mail client's browser: signed out
            asked = await stranger.get(f"/lock?t={token}")
            assert asked.status_code == 200 and "Lock my account" in asked.text
            assert await me(stranger, key) != 401  # opening the link alone locks nothing
            visitor = Trader(stranger)
            await visitor.page(f"/lock?t={token}")
            locked = await visitor.form("/lock", {"t": token})
            assert locked.status_code == 200 and "Your account is locked" in locked.text
            visitor.csrf = csrf_from((await stranger.get(f"/lock?t={token}")).text)
            again = await visitor.form("/lock", {"t": token})
            assert again.status_code == 410 and "already been used" in again.text
            refused = await me(stranger, key)
        assert refused.status_code == 401 and SUSPENDED in refused.json()["message"]
        assert await live_sessions(app) == 0
        gone = await phone.get("/settings/security")
        assert gone.status_code == 303 and gone.headers["location"] == "/login"
    # The key is suspended, not deleted: after unlocking, the same key works again.
    await trader.login()
    page = await trader.page("/settings/security")
    assert "Your account is locked" in page.text
    held = await trader.view_key()
    assert held.status_code == 403 and "locked" in held.text and "at_" not in held.text
    unlocked = await trader.hx("POST", "/settings/security/unlock", {"password": PASSWORD})
    assert unlocked.status_code == 200 and "Re-generate API key" in unlocked.text
    assert (await me(trader.client, key)).status_code == 200
    events = await kinds(app)
    assert "account_locked" in events and "account_unlocked" in events
    # The app's access log wrote each request to /lock, but never the token.
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("webapp"))
    assert "GET /lock 200" in ours and "POST /lock 200" in ours and token not in ours


async def test_lock_link_expires_after_seven_days(app, trader, settings, clock):
    token = await lock_link(app, trader, settings)
    clock.advance(7 * 86400 + 1)
    async with make_client(app) as stranger:
        visitor = Trader(stranger)
        expired = await visitor.page(f"/lock?t={token}")
        assert expired.status_code == 410
        visitor.csrf = csrf_from(expired.text)
        assert (await visitor.form("/lock", {"t": token})).status_code == 410
        for bad in ("nope", "y" * 43, "a" * 44, "a.b", "%E2%80%AE" * 5):
            assert (await stranger.get(f"/lock?t={bad}")).status_code in (404, 410), bad
            assert (await visitor.form("/lock", {"t": bad})).status_code in (404, 410), bad
    assert "account_locked" not in await kinds(app)


async def test_lock_everything_now_needs_no_step_up_and_unlock_needs_both_factors(
    app, trader, clock
):
    key = await trader.reveal_key()
    await enrol(trader, clock)
    clock.advance(400)  # every proof has expired: the button still works
    page = await trader.page("/settings/security")
    assert "Lock everything now" in page.text
    locked = await trader.form("/settings/security/lock", {})
    assert locked.status_code == 303 and locked.headers["location"] == "/login?locked=1"
    assert await live_sessions(app) == 0
    notice = await trader.client.get("/login?locked=1")
    assert "Your account is locked" in notice.text
    assert SUSPENDED in (await me(trader.client, key)).json()["message"]
    await trader.login()
    # Re-generate stays available while locked, and the new key is suspended too.
    clock.advance(30)
    regenerated = await trader.hx(
        "POST",
        "/settings/security/api-key/regenerate",
        {"step": "verify", "password": PASSWORD, "confirm": "yes"},
    )
    assert regenerated.status_code == 200
    new_key = "at_" + regenerated.text.split("at_", 1)[1][:49]
    assert (await me(trader.client, new_key)).status_code == 401
    # Unlock: the password alone is not enough with 2FA; a wrong code changes nothing.
    only_password = await trader.hx("POST", "/settings/security/unlock", {"password": PASSWORD})
    assert only_password.status_code == 422 and 'id="unlock-code-error"' in only_password.text
    wrong = await trader.hx(
        "POST", "/settings/security/unlock", {"password": PASSWORD, "code": "000000"}
    )
    assert wrong.status_code == 422
    assert (await me(trader.client, new_key)).status_code == 401
    clock.advance(30)
    done = await trader.hx(
        "POST", "/settings/security/unlock", {"password": PASSWORD, "code": trader.code(clock)}
    )
    assert done.status_code == 200 and "Unlocked" in done.text
    assert (await me(trader.client, new_key)).status_code == 200
    activity = await trader.page("/settings/security")
    assert "Account locked" in activity.text and "Account unlocked" in activity.text


async def test_cool_down_after_a_password_change_holds_reveals_only(app, trader, clock, settings):
    account_id = await add(trader)
    await trader.page("/settings/security")
    changed = await trader.hx(
        "POST",
        "/settings/security/password",
        {"password": PASSWORD, "new_password": "a much newer passphrase 1"},
    )
    assert changed.status_code == 200
    trader.password = "a much newer passphrase 1"
    held = await trader.view_key()
    assert held.status_code == 403
    assert "paused for 24 h more because your password was changed" in held.text
    assert "at_" not in held.text
    # Asked before any password is typed, for the key and for broker credentials.
    assert (await trader.hx("POST", "/settings/security/api-key/view", {})).status_code == 403
    creds = await trader.hx(
        "POST",
        f"/trading-accounts/{account_id}/view",
        {"step": "verify", "password": trader.password},
    )
    assert creds.status_code == 403 and "br0ker" not in creds.text
    page = await trader.page("/settings/security")
    assert 'id="cooldown"' in page.text and "because your password was changed" in page.text
    # Re-generate (and Lock) stay available: they only reduce risk.
    regenerated = await trader.hx(
        "POST",
        "/settings/security/api-key/regenerate",
        {"step": "verify", "password": trader.password, "confirm": "yes"},
    )
    assert regenerated.status_code == 200
    clock.advance(23 * 3600)
    await trader.login()
    held = await trader.view_key()
    assert held.status_code == 403 and "paused for 1 h more" in held.text
    clock.advance(3600)
    await trader.login()
    assert (await trader.view_key()).status_code == 200


@pytest.mark.parametrize("cause", ["remove-2fa", "recovery-sign-in", "email-change"])
async def test_other_risky_changes_start_a_cool_down(app, trader, clock, settings, cause):
    if cause == "email-change":
        await add_address(trader, app, settings.data_dir)
        assert (await trader.view_key()).status_code == 200  # adding one is no change
        await add_address(trader, app, settings.data_dir, address="other@example.net")
        reason = "your alert email address was changed"
    else:
        await enrol(trader, clock)
        if cause == "remove-2fa":
            response = await change_2fa(trader, clock, "remove", confirm="yes")
            assert response.status_code == 200
            reason = "two-factor authentication was removed"
        else:
            await change_2fa(trader, clock, "login-on")
            await trader.logout()
            await trader.page("/login")
            await trader.form("/login", {"username": trader.username, "password": PASSWORD})
            await trader.page("/login/code")
            signed_in = await trader.form("/login/code", {"code": trader.recovery[0]})
            assert signed_in.headers["location"] == "/settings/security"
            await trader.page("/settings/security")
            reason = "you signed in with a recovery code"
    held = await trader.hx(
        "POST", "/settings/security/api-key/view", {"step": "verify", "password": PASSWORD}
    )
    assert held.status_code == 403 and reason in held.text, held.text
