"""Register, sign in, sign out, enumeration safety, throttling, sessions, timeouts."""

import pytest
from sqlmodel import select

from tests.helpers import PASSWORD, Trader, make_client, session_payload
from webapp.models import ApiKey, SessionRecord, User
from webapp.passwords import HASHER


async def rows(app, model):
    async with app.state.ctx.db() as db:
        return list((await db.exec(select(model))).all())


async def test_register_creates_user_and_api_key_and_signs_in(app, client):
    t = Trader(client)
    response = await t.register()
    assert response.status_code == 303
    assert response.headers["location"] == "/settings/security"
    users, keys = await rows(app, User), await rows(app, ApiKey)
    assert [u.username for u in users] == ["alice"]
    assert len(keys) == 1 and keys[0].user_id == users[0].id
    assert users[0].password_hash.startswith("$argon2id$")
    page = await client.get("/settings/security")
    assert page.status_code == 200 and "alice" in page.text


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("", PASSWORD, "3 to 64 characters"),
        ("ab", PASSWORD, "3 to 64 characters"),
        ("a" * 65, PASSWORD, "3 to 64 characters"),
        ("bad name", PASSWORD, "3 to 64 characters"),
        ("ünïcode", PASSWORD, "3 to 64 characters"),
        ("alice", "", "at least 12"),
        ("alice", "short", "at least 12"),
        ("alice", "x" * 1025, "at most 1024"),
        ("alice1234567", "ALICE1234567", "must not be your username"),
    ],
)
async def test_register_validation(app, client, username, password, message):
    t = Trader(client, username=username, password=password)
    response = await t.register()
    assert response.status_code == 422
    assert message in response.text
    assert await rows(app, User) == []


async def test_usernames_are_unique_ignoring_case(app, client, trader):
    await trader.logout()
    other = Trader(client, username="ALICE")
    response = await other.register()
    assert response.status_code == 422
    assert "taken" in response.text
    assert len(await rows(app, User)) == 1


async def test_password_without_composition_rules_is_accepted(client):
    t = Trader(client, username="bob", password="aaaaaaaaaaaa")
    assert (await t.register()).status_code == 303


async def test_sign_out_and_in(client, trader):
    assert (await trader.logout()).status_code == 303
    assert (await client.get("/settings/security")).headers["location"] == "/login"
    response = await trader.login()
    assert response.status_code == 303
    assert (await client.get("/settings/security")).status_code == 200


async def test_unknown_user_and_wrong_password_look_the_same(app, client, trader):
    await trader.logout()
    wrong = await Trader(client).login(password="not the password!")
    unknown = await Trader(client, username="nobody").login(password="not the password!")
    assert wrong.status_code == unknown.status_code == 422
    assert "Wrong username or password" in wrong.text
    assert wrong.text.replace("alice", "X") == unknown.text.replace("nobody", "X")


async def test_unknown_user_costs_an_argon2_verification(app, client):
    passwords = app.state.ctx.passwords
    assert passwords.dummy_hash is None
    await Trader(client, username="nobody").login(password="whatever whatever")
    assert passwords.dummy_hash is not None  # the dummy hash was verified against


async def test_sign_in_throttle_backs_off_and_refuses_even_the_right_password(
    client, trader, clock
):
    await trader.logout()
    for _ in range(4):
        assert (await trader.login(password="wrong password!")).status_code == 422
    fifth = await trader.login(password="wrong password!")
    assert fifth.status_code == 429
    assert "Try again in 1 second" in fifth.text
    locked = await trader.login()  # right password, still locked
    assert locked.status_code == 429
    clock.advance(1.5)
    sixth = await trader.login(password="wrong password!")
    assert sixth.status_code == 429 and "2 seconds" in sixth.text
    clock.advance(2.5)
    assert (await trader.login()).status_code == 303


async def test_throttle_lock_is_capped_at_15_minutes(client, trader, clock):
    await trader.logout()
    message = ""
    for _ in range(20):
        response = await trader.login(password="wrong password!")
        message = response.text
        clock.advance(901)
    assert "15 minutes" in message


async def test_unknown_names_lock_like_real_ones(client, clock):
    ghost = Trader(client, username="ghost")
    statuses = [(await ghost.login(password="wrong password!")).status_code for _ in range(5)]
    assert statuses == [422, 422, 422, 422, 429]


async def test_per_address_limit(client, clock):
    from webapp.security import throttle

    last = None
    for i in range(throttle.ADDRESS.threshold):
        last = await Trader(client, username=f"user{i}").login(password="wrong password!")
    assert last.status_code == 429
    other = await Trader(client, username="fresh-name").login(password="wrong password!")
    assert other.status_code == 429
    clock.advance(throttle.ADDRESS.window_seconds + 1)
    again = await Trader(client, username="fresh-name").login(password="wrong password!")
    assert again.status_code == 422


async def test_new_session_id_on_sign_in(client, trader):
    before = session_payload(client)["sid"]
    await trader.logout()
    await trader.page("/login")
    anonymous = session_payload(client)
    assert "sid" not in anonymous
    await trader.login()
    assert session_payload(client)["sid"] != before


async def test_cookie_holds_only_ids_and_times(client, trader):
    payload = session_payload(client)
    assert set(payload) <= {"sid", "signed_in_at", "csrf", "proof"}
    assert PASSWORD not in client.cookies.get("autotrader_session")
    cookie = next(c for c in client.cookies.jar if c.name == "autotrader_session")
    assert cookie.secure
    assert cookie.has_nonstandard_attr("httponly")


async def test_set_cookie_attributes(app):
    async with make_client(app) as c:
        response = await c.get("/login")
    header = response.headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=lax" in header and "secure" in header


async def test_signed_out_cookie_replayed_is_refused(app, client, trader):
    stolen = client.cookies.get("autotrader_session")
    await trader.logout()
    async with make_client(app) as thief:
        thief.cookies.set("autotrader_session", stolen, domain="testserver")
        response = await thief.get("/settings/security")
    assert response.status_code == 303 and response.headers["location"] == "/login"


async def test_idle_timeout(client, trader, clock, settings):
    clock.advance(settings.idle_timeout_seconds - 100)
    assert (await client.get("/settings/security")).status_code == 200
    clock.advance(settings.idle_timeout_seconds + 1)
    assert (await client.get("/settings/security")).status_code == 303


async def test_absolute_timeout(client, trader, clock, settings):
    for _ in range(settings.absolute_timeout_seconds // 1200):
        clock.advance(1200)
        assert (await client.get("/settings/security")).status_code == 200
    clock.advance(1300)
    assert (await client.get("/settings/security")).status_code == 303


async def test_last_seen_written_at_most_once_a_minute(app, client, trader, clock):
    record = (await rows(app, SessionRecord))[0]
    clock.advance(30)
    await client.get("/settings/security")
    assert (await rows(app, SessionRecord))[0].last_seen_at == record.last_seen_at
    clock.advance(31)
    await client.get("/settings/security")
    assert (await rows(app, SessionRecord))[0].last_seen_at == clock.now


async def test_session_record_keeps_ip_and_browser(app, client):
    t = Trader(client)
    await t.page("/register")
    await t.client.post(
        "/register",
        data={"csrf_token": t.csrf, "username": "alice", "password": PASSWORD},
        headers={"User-Agent": "TestBrowser/1.0"},
    )
    record = (await rows(app, SessionRecord))[0]
    assert record.ip == "203.0.113.7" and record.user_agent == "TestBrowser/1.0"
    assert len(record.id) == 64  # a hash of the cookie's id, not the id itself
    assert record.id != session_payload(client)["sid"]


async def test_rehash_on_sign_in_when_parameters_change(app, client, trader):
    from webapp.passwords import Passwords

    old_hash = (await rows(app, User))[0].password_hash
    app.state.ctx.passwords = Passwords(hasher=HASHER)  # an operator raised the parameters
    await trader.logout()
    assert (await trader.login()).status_code == 303
    new_hash = (await rows(app, User))[0].password_hash
    assert new_hash != old_hash and "m=65536,t=2,p=1" in new_hash


async def test_pages_need_sign_in(client):
    for path in ["/settings/security", "/settings/security/api-key/masked"]:
        response = await client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/login"


async def test_htmx_requests_get_hx_redirect(client):
    response = await client.get("/settings/security/api-key/masked", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login"
