"""Recent activity, active sessions, password change."""

import re

from sqlmodel import select

from tests.helpers import PASSWORD, Trader, change_2fa, enrol, make_client
from webapp.models import SecurityEvent

NEW_PASSWORD = "a brand new passphrase 42"


async def test_activity_lists_events_with_address_and_browser(client, trader):
    await trader.view_key(password="wrong password!")
    await trader.reveal_key()
    page = await client.get("/settings/security")
    section = page.text[page.text.index('id="activity"') :]
    assert "API key viewed" in section and "Password check failed" in section
    assert "Account created" in section and "203.0.113.7" in section
    assert "<time datetime=" in section and "data-local" in section


async def test_activity_shows_20_then_more_by_htmx(app, client, trader, clock):
    async with app.state.ctx.db() as db:
        for i in range(30):
            db.add(SecurityEvent(user_id=1, at=clock.now + i, kind="api_key_viewed", ip="10.0.0.1"))
        await db.commit()
    page = await client.get("/settings/security")
    rows = page.text[page.text.index('id="activity-rows"') :]
    assert rows.count("<tr") == 21  # 20 events and the "Show more" row
    before = re.search(r"activity\?before=(\d+)", page.text).group(1)
    more = await trader.hx("GET", f"/settings/security/activity?before={before}")
    assert more.status_code == 200
    assert more.text.count("<tr") == 11  # the 10 older fakes and "Account created"; no button
    assert "Show more" not in more.text
    bad = await trader.hx("GET", "/settings/security/activity?before=abc")
    assert bad.status_code == 400


async def test_activity_is_per_user(app, client, trader):
    async with make_client(app) as other:
        bob = Trader(other, username="bob")
        await bob.register()
        await bob.reveal_key()
        more = await bob.hx("GET", "/settings/security/activity?before=999999")
    assert "203.0.113.7" in more.text
    async with app.state.ctx.db() as db:
        bob_events = (await db.exec(select(SecurityEvent).where(SecurityEvent.user_id == 2))).all()
    assert all(e.user_id == 2 for e in bob_events)
    page = await client.get("/settings/security")
    assert page.text.count("API key viewed") == 0


async def test_sessions_list_marks_this_device(app, client, trader):
    async with make_client(app) as laptop:
        await Trader(laptop).login()
        page = await client.get("/settings/security")
    section = page.text[page.text.index('id="sessions"') :]
    assert section.count("Sign out</button>") == 2
    assert section.count("This device") == 1
    assert "Sign out of all other sessions" in section


async def test_sign_out_one_session_from_another(app, client, trader):
    async with make_client(app) as laptop:
        other = Trader(laptop)
        await other.login()
        stolen = laptop.cookies.get("autotrader_session")
        page = await client.get("/settings/security")
        ids = re.findall(r"/settings/security/sessions/([0-9a-f]{64})/sign-out", page.text)
        mine = re.search(
            r"/settings/security/sessions/([0-9a-f]{64})/sign-out[^>]*this device", page.text
        ).group(1)
        target = next(i for i in ids if i != mine)
        response = await trader.hx("POST", f"/settings/security/sessions/{target}/sign-out")
        assert response.status_code == 200 and "Signed out" in response.text
        assert (await laptop.get("/settings/security")).status_code == 303
    async with make_client(app) as thief:
        thief.cookies.set("autotrader_session", stolen, domain="testserver")
        assert (await thief.get("/settings/security")).status_code == 303
    assert (await client.get("/settings/security")).status_code == 200


async def test_cannot_sign_out_someone_elses_session(app, client, trader):
    async with make_client(app) as other:
        bob = Trader(other, username="bob")
        await bob.register()
        page = await other.get("/settings/security")
        bob_session = re.search(r"sessions/([0-9a-f]{64})/sign-out", page.text).group(1)
        response = await trader.hx("POST", f"/settings/security/sessions/{bob_session}/sign-out")
        assert "already ended" in response.text
        assert (await other.get("/settings/security")).status_code == 200


async def test_signing_out_this_session_from_the_list(client, trader):
    page = await client.get("/settings/security")
    mine = re.search(r"sessions/([0-9a-f]{64})/sign-out", page.text).group(1)
    response = await trader.hx("POST", f"/settings/security/sessions/{mine}/sign-out")
    assert response.headers["HX-Redirect"] == "/login"
    assert (await client.get("/settings/security")).status_code == 303


async def test_sign_out_all_others(app, client, trader):
    async with make_client(app) as a, make_client(app) as b:
        await Trader(a).login()
        await Trader(b).login()
        response = await trader.hx("POST", "/settings/security/sessions/others/sign-out")
        assert "Signed out of 2 other sessions" in response.text
        assert (await a.get("/settings/security")).status_code == 303
        assert (await b.get("/settings/security")).status_code == 303
    assert (await client.get("/settings/security")).status_code == 200


async def change_password(trader, current=PASSWORD, new=NEW_PASSWORD, code=""):
    data = {"password": current, "new_password": new}
    if code:
        data["code"] = code
    return await trader.hx("POST", "/settings/security/password", data)


async def test_change_password_ends_other_sessions(app, client, trader):
    async with make_client(app) as laptop:
        await Trader(laptop).login()
        response = await change_password(trader)
        assert response.status_code == 200 and "Password changed" in response.text
        assert (await laptop.get("/settings/security")).status_code == 303
    assert (await client.get("/settings/security")).status_code == 200
    await trader.logout()
    assert (await trader.login()).status_code == 422
    trader.password = NEW_PASSWORD
    assert (await trader.login()).status_code == 303


async def test_change_password_rules(client, trader):
    wrong = await change_password(trader, current="not my password")
    assert wrong.status_code == 422 and "password is not correct" in wrong.text
    short = await change_password(trader, new="short")
    assert short.status_code == 422 and "at least 12" in short.text
    same_as_name = await change_password(trader, new="alice")
    assert same_as_name.status_code == 422
    await trader.logout()
    assert (await trader.login()).status_code == 303  # nothing changed


async def test_change_password_needs_a_code_with_2fa(client, trader, clock):
    await enrol(trader, clock)
    await change_2fa(trader, clock, "login-on")
    page = await client.get("/settings/security")
    assert 'id="pw-code"' in page.text
    no_code = await change_password(trader)
    assert no_code.status_code == 422
    clock.advance(30)
    done = await change_password(trader, code=trader.code(clock))
    assert done.status_code == 200
