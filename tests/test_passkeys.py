"""Passkeys as a second factor: registration, Login 2FA, step-up, replay and clone safety.

A software authenticator (tests/soft_authenticator.py) signs with real keys, so the
server's own verification (python-fido2) judges every answer.
"""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from tests import helpers
from tests.helpers import PASSWORD, Trader, change_2fa, enrol, make_client, session_payload
from tests.soft_authenticator import PASSKEYS, SoftAuthenticator, add_passkey, options
from webapp.config import ConfigError, Settings
from webapp.models import Passkey, PasskeyChallenge, SecurityEvent, User
from webapp.security import webauthn

BASE = PASSKEYS


async def answer(trader: Trader, authenticator: SoftAuthenticator, **lie) -> str:
    """A passkey answer to this session's step-up challenge."""
    return authenticator.get(await options(trader, f"{BASE}/assert"), **lie)


async def view_with_passkey(trader: Trader, authenticator: SoftAuthenticator, **lie):
    """Submit the View dialog with the password and a passkey instead of the code."""
    data = {
        "step": "verify",
        "password": trader.password,
        "passkey": await answer(trader, authenticator, **lie),
    }
    return await trader.hx("POST", "/settings/security/api-key/view", data)


async def kinds(app) -> list[str]:
    """Every security event kind, oldest first."""
    async with app.state.ctx.db() as db:
        rows = (await db.exec(select(SecurityEvent).order_by(SecurityEvent.id))).all()
    return [r.kind for r in rows]


async def passkey_rows(app) -> list[Passkey]:
    """Every stored passkey."""
    async with app.state.ctx.db() as db:
        return list((await db.exec(select(Passkey))).all())


async def alice(app) -> User:
    """Alice's row as stored."""
    async with app.state.ctx.db() as db:
        return (await db.exec(select(User).where(User.username == "alice"))).one()


@pytest.fixture
async def with_passkey(app, trader: Trader):
    """Alice with one passkey (her first second factor) and Credentials 2FA on."""
    key = SoftAuthenticator()
    added = await add_passkey(trader, key)
    assert added.status_code == 200, added.text
    response = await trader.hx(
        "POST",
        "/settings/security/2fa/credentials-on",
        {"step": "verify", "password": PASSWORD, "passkey": await answer(trader, key)},
    )
    assert response.status_code == 200, response.text
    return trader, key


# --- The relying party from AUTOTRADER_PUBLIC_URL -------------------------------------


def test_relying_party_from_the_public_url():
    assert webauthn.relying_party("http://localhost:8000") == webauthn.RelyingParty(
        "localhost", "http://localhost:8000"
    )
    rp = webauthn.relying_party("https://Trading.Example.com:443/")
    assert rp == webauthn.RelyingParty("trading.example.com", "https://trading.example.com")
    assert webauthn.relying_party("https://example.com:8443").origin == "https://example.com:8443"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://127.0.0.1:8000", "IP address"),
        ("https://[::1]:8443", "IP address"),
        ("http://trading.example.com", "https://"),
        ("ftp://localhost", "address browsers use"),
        ("https://example.com/app", "scheme, host and port only"),
        ("http://localhost:99999", "not a valid URL"),
    ],
)
def test_a_url_that_cannot_be_an_rp_is_a_clear_start_up_error(url, says):
    with pytest.raises(ConfigError, match=re.escape(says)):
        Settings.from_env({"AUTOTRADER_PUBLIC_URL": url})


# --- The library's own checks: origin, RP id, challenge, signature ---------------------


def _rp() -> webauthn.RelyingParty:
    return webauthn.relying_party("http://localhost:8000")


def _registered(key: SoftAuthenticator, challenge: bytes) -> webauthn.NewCredential:
    options = webauthn.creation_options(_rp(), b"h" * 32, "alice", [], challenge)
    return webauthn.verify_creation(_rp(), challenge, key.create(options))


def test_verification_checks_origin_rp_id_challenge_and_signature():
    key = SoftAuthenticator()
    new = _registered(key, b"c" * 32)
    assert new.credential_id == key.credential_id
    stored = [new.credential_data]
    options = webauthn.request_options(_rp(), [new.credential_id], b"a" * 32)
    good = webauthn.verify_assertion(_rp(), b"a" * 32, key.get(options), stored)
    assert good.sign_count == 1
    lies = [
        key.get(options, origin="https://evil.example"),  # a phishing page's origin
        key.get(options, origin="http://localhost:8001"),  # another port is another origin
        key.get(options, rp_id="evil.example"),  # signed for another site
    ]
    for lie in lies:
        with pytest.raises(webauthn.Refused):
            webauthn.verify_assertion(_rp(), b"a" * 32, lie, stored)
    with pytest.raises(webauthn.Refused):  # the answer to another challenge
        webauthn.verify_assertion(_rp(), b"b" * 32, key.get(options), stored)
    with pytest.raises(webauthn.Refused):  # another key signing for this credential id
        webauthn.verify_assertion(_rp(), b"a" * 32, key.get(options), [_other(key)])
    with pytest.raises(webauthn.Refused):  # a creation answer from a phishing origin
        options = webauthn.creation_options(_rp(), b"h" * 32, "alice", [], b"d" * 32)
        webauthn.verify_creation(_rp(), b"d" * 32, key.create(options, origin="https://x.io"))


def _other(key: SoftAuthenticator) -> bytes:
    impostor = SoftAuthenticator()
    impostor.credential_id = key.credential_id
    return _registered(impostor, b"e" * 32).credential_data


@pytest.mark.parametrize(
    "raw", ["", "not json", "[]", '{"id": 1}', "{" * 5000, '{"response": {}}', "x" * 20000]
)
def test_malformed_answers_are_refused_not_crashed(raw):
    with pytest.raises(webauthn.Refused):
        webauthn.verify_assertion(_rp(), b"a" * 32, raw, [])
    with pytest.raises(webauthn.Refused):
        webauthn.verify_creation(_rp(), b"a" * 32, raw)


# --- Registering ----------------------------------------------------------------------


async def test_first_passkey_needs_the_password_and_brings_recovery_codes(app, trader):
    key = SoftAuthenticator()
    wrong = await add_passkey(trader, key, password="not the password!")
    assert wrong.status_code == 422 and await passkey_rows(app) == []
    added = await add_passkey(trader, key, name="  Work\nlaptop  ")
    assert added.status_code == 200, added.text
    assert added.headers["HX-Trigger"] == "stepup-done"
    assert "Work laptop" in added.text
    assert len(re.findall(r"<li><code>[a-z2-9]{5}-[a-z2-9]{5}</code></li>", added.text)) == 10
    assert 'id="twofactor"' in added.text and 'hx-swap-oob="true"' in added.text
    user = await alice(app)
    assert user.passkey_count == 1 and user.enrolled
    # The user handle is random, not the username or the id.
    assert key.user_handle not in (b"alice", str(user.id).encode())
    assert len(key.user_handle) == 32
    assert "passkey_added" in await kinds(app)


async def test_a_second_passkey_needs_the_second_factor(app, with_passkey):
    trader, key = with_passkey
    other = SoftAuthenticator()
    refused = await add_passkey(trader, other, name="Phone")
    assert refused.status_code == 422 and len(await passkey_rows(app)) == 1
    added = await add_passkey(trader, other, name="Phone", passkey=await answer(trader, key))
    assert added.status_code == 200, added.text
    assert [p.name for p in await passkey_rows(app)] == ["Laptop", "Phone"]
    assert "Your recovery codes" not in added.text  # the first set still stands


async def test_the_same_credential_cannot_be_added_twice(app, with_passkey):
    trader, key = with_passkey
    again = await add_passkey(trader, key, passkey=await answer(trader, key))
    assert again.status_code == 409
    assert len(await passkey_rows(app)) == 1
    # Another account cannot claim it either (credential ids are unique).
    async with make_client(app) as other_browser:
        bob = Trader(other_browser, username="bob")
        await bob.register()
        stolen = await add_passkey(bob, key)
        assert stolen.status_code == 409
    assert len(await passkey_rows(app)) == 1


async def test_a_registration_challenge_works_once_and_expires(app, trader, clock):
    key = SoftAuthenticator()
    opts = await options(trader, f"{BASE}/options")
    created = key.create(opts)
    form = {"step": "verify", "password": PASSWORD, "attestation": created}
    clock.advance(121)
    late = await trader.hx("POST", f"{BASE}/add", form)
    assert late.status_code == 422 and "expired" in late.text
    assert await passkey_rows(app) == []
    # Asked again within 2 minutes it works; the same answer a second time does not.
    created = key.create(await options(trader, f"{BASE}/options"))
    form["attestation"] = created
    assert (await trader.hx("POST", f"{BASE}/add", form)).status_code == 200
    replay = await trader.hx("POST", f"{BASE}/add", {**form, "passkey": await answer(trader, key)})
    assert replay.status_code == 422 and "expired" in replay.text
    assert len(await passkey_rows(app)) == 1


# --- A second factor wherever a code is ------------------------------------------------


async def test_view_the_key_with_credentials_2fa_using_a_passkey(app, with_passkey, clock):
    trader, key = with_passkey
    clock.advance(400)
    asked = await trader.hx("POST", "/settings/security/api-key/view", {})
    assert 'name="code"' in asked.text and "data-passkey-assert" in asked.text
    shown = await view_with_passkey(trader, key)
    assert shown.status_code == 200, shown.text
    assert helpers.key_in(shown.text).startswith("at_")
    stored = (await passkey_rows(app))[0]
    assert stored.sign_count == key.counter and stored.last_used_at == clock.now


async def test_login_2fa_with_a_passkey(app, with_passkey, client):
    trader, key = with_passkey
    turned = await trader.hx(
        "POST",
        "/settings/security/2fa/login-on",
        {"step": "verify", "password": PASSWORD, "passkey": await answer(trader, key)},
    )
    assert turned.status_code == 200, turned.text
    await trader.logout()
    assert (await trader.login()).headers["location"] == "/login/code"
    page = await trader.page("/login/code")
    assert "Use a passkey" in page.text and "Recovery code" in page.text
    token = session_payload(trader.client)["pending_passkey"]
    assert len(token) >= 40  # a random id of this pending sign-in, not a secret
    opts = await options(trader, "/login/passkey/options")
    signed_in = await trader.form("/login/passkey", {"passkey": key.get(opts)})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/settings/security"
    assert (await trader.client.get("/settings/security")).status_code == 200
    assert "pending_passkey" not in session_payload(trader.client)


async def test_login_challenge_is_bound_to_the_pending_sign_in(app, with_passkey):
    trader, key = with_passkey
    await trader.hx(
        "POST",
        "/settings/security/2fa/login-on",
        {"step": "verify", "password": PASSWORD, "passkey": await answer(trader, key)},
    )
    await trader.logout()
    await trader.login()
    await trader.page("/login/code")
    signed = key.get(await options(trader, "/login/passkey/options"))
    # An attacker who knows the password starts their own pending sign-in and relays
    # the victim's signed answer: the challenge belongs to the victim's browser.
    async with make_client(app) as other:
        attacker = Trader(other)
        await attacker.login()
        await attacker.page("/login/code")
        relayed = await attacker.form("/login/passkey", {"passkey": signed})
        assert relayed.status_code == 422
        assert "expired or was already used" in relayed.text
    # The victim's challenge was untouched by the relay: their own answer still works.
    own = await trader.form("/login/passkey", {"passkey": signed})
    assert own.status_code == 303


async def test_step_up_challenges_are_single_use_bound_and_short_lived(app, with_passkey, clock):
    trader, key = with_passkey
    clock.advance(400)
    signed = await answer(trader, key)
    clock.advance(121)
    late = await trader.hx(
        "POST",
        "/settings/security/api-key/view",
        {"step": "verify", "password": PASSWORD, "passkey": signed},
    )
    assert late.status_code == 422 and "expired" in late.text
    signed = await answer(trader, key)
    data = {"step": "verify", "password": PASSWORD, "passkey": signed}
    assert (await trader.hx("POST", "/settings/security/api-key/view", data)).status_code == 200
    clock.advance(400)
    again = await trader.hx("POST", "/settings/security/api-key/view", data)
    assert again.status_code == 422  # the challenge was used up
    # Another session of the same user cannot use this session's challenge.
    signed = await answer(trader, key)
    async with make_client(app) as other:
        twin = Trader(other)
        await twin.login()
        data = {"step": "verify", "password": PASSWORD, "passkey": signed}
        refused = await twin.hx("POST", "/settings/security/api-key/view", data)
        assert refused.status_code == 422 and "at_" not in refused.text
    async with app.state.ctx.db() as db:
        left = (await db.exec(select(PasskeyChallenge))).all()
    assert all(c.expires_at - clock.now <= 120 for c in left)


# --- Clone and guessing safety ---------------------------------------------------------


async def test_a_cloned_authenticator_is_refused_and_recorded(app, with_passkey, clock):
    trader, key = with_passkey
    clock.advance(400)
    clone = key.clone()
    assert (await view_with_passkey(trader, key)).status_code == 200  # counter moves on
    clock.advance(400)
    copied = await view_with_passkey(trader, clone, counter=clone.counter + 1)
    assert copied.status_code == 422 and "counter went backwards" in copied.text
    assert "at_" not in copied.text
    assert "passkey_counter_regressed" in await kinds(app)
    same = await view_with_passkey(trader, key, counter=key.counter)  # not growing: refused
    assert same.status_code == 422
    assert (await view_with_passkey(trader, key)).status_code == 200  # the real one still works


async def test_passkey_failures_count_toward_the_code_lock(app, with_passkey, clock):
    trader, key = with_passkey
    clock.advance(400)
    statuses = []
    for _ in range(6):
        statuses.append(
            (await view_with_passkey(trader, key, origin="https://evil.example")).status_code
        )
    assert statuses[:4] == [422] * 4 and statuses[-1] == 429
    # During the lock the right passkey is refused too.
    assert (await view_with_passkey(trader, key)).status_code == 429
    events = await kinds(app)
    assert events.count("passkey_failed") == 5 and "code_locked" in events


async def test_no_attestation_and_garbage_are_clear_4xx(app, with_passkey):
    trader, _key = with_passkey
    for bad in ("", "{}", "[1,2]", "x" * 50_000, '{"response": {"clientDataJSON": 5}}'):
        data = {"step": "verify", "password": PASSWORD, "passkey": bad, "code": ""}
        response = await trader.hx("POST", "/settings/security/2fa/login-on", data)
        assert 400 <= response.status_code < 500, (bad[:10], response.status_code)
        added = await trader.hx("POST", f"{BASE}/add", {**data, "passkey": "", "attestation": bad})
        assert 400 <= added.status_code < 500
    assert len(await passkey_rows(app)) == 1
    assert (await alice(app)).login_2fa is False


# --- Removing --------------------------------------------------------------------------


async def test_removing_the_last_second_factor_turns_2fa_off(app, with_passkey):
    trader, key = with_passkey
    passkey_id = (await passkey_rows(app))[0].id
    dialog = await trader.client.get(f"{BASE}/{passkey_id}/remove", headers={"HX-Request": "true"})
    assert "last second factor" in dialog.text and 'name="confirm"' in dialog.text
    data = {"step": "verify", "password": PASSWORD, "passkey": await answer(trader, key)}
    unconfirmed = await trader.hx("POST", f"{BASE}/{passkey_id}/remove", data)
    assert unconfirmed.status_code == 422 and len(await passkey_rows(app)) == 1
    code_only = {"step": "verify", "password": PASSWORD, "code": "000000", "confirm": "yes"}
    refused = await trader.hx("POST", f"{BASE}/{passkey_id}/remove", code_only)
    assert refused.status_code == 422 and len(await passkey_rows(app)) == 1
    data = {**data, "passkey": await answer(trader, key), "confirm": "yes"}
    removed = await trader.hx("POST", f"{BASE}/{passkey_id}/remove", data)
    assert removed.status_code == 200, removed.text
    user = await alice(app)
    assert user.passkey_count == 0 and not user.enrolled
    assert user.credentials_2fa is False and user.recovery_key is None
    assert "passkey_removed" in await kinds(app)
    assert (await trader.view_key()).status_code == 200  # password alone again


async def test_removing_one_of_two_keeps_2fa(app, with_passkey, clock):
    trader, key = with_passkey
    phone = SoftAuthenticator()
    await add_passkey(trader, phone, name="Phone", passkey=await answer(trader, key))
    first = (await passkey_rows(app))[0].id
    data = {"step": "verify", "password": PASSWORD, "passkey": await answer(trader, phone)}
    removed = await trader.hx("POST", f"{BASE}/{first}/remove", data)
    assert removed.status_code == 200, removed.text
    user = await alice(app)
    assert user.passkey_count == 1 and user.credentials_2fa and user.recovery_key
    clock.advance(400)
    assert (await view_with_passkey(trader, key)).status_code == 422  # removed: refused
    assert (await view_with_passkey(trader, phone)).status_code == 200


async def test_another_users_passkey_is_404(app, with_passkey):
    _trader, _key = with_passkey
    passkey_id = (await passkey_rows(app))[0].id
    async with make_client(app) as other:
        bob = Trader(other, username="bob")
        await bob.register()
        data = {"step": "verify", "password": PASSWORD, "confirm": "yes"}
        response = await bob.hx("POST", f"{BASE}/{passkey_id}/remove", data)
        assert response.status_code == 404
    assert len(await passkey_rows(app)) == 1


async def test_remove_2fa_and_recovery_codes_cover_passkeys(app, trader, clock):
    """TOTP and a passkey together: a recovery code works for both; Remove 2FA ends both."""
    await enrol(trader, clock)
    key = SoftAuthenticator()
    added = await add_passkey(trader, key, code=trader.code(clock, 1))
    assert added.status_code == 200, added.text
    recovery = trader.recovery[0]
    removed = await change_2fa(trader, clock, "remove", code=recovery, confirm="yes")
    assert removed.status_code == 200, removed.text
    user = await alice(app)
    assert user.passkey_count == 0 and await passkey_rows(app) == []


async def test_a_passkey_only_account_needs_the_passkey_to_add_an_authenticator_app(
    app, with_passkey, clock
):
    trader, _key = with_passkey
    clock.advance(400)
    await trader.hx("POST", "/settings/security/2fa/setup")
    from webapp import totp

    async with app.state.ctx.db() as db:
        from webapp.repositories import two_factor

        user = (await db.exec(select(User))).one()
        secret = two_factor.pending_secret(app.state.ctx.keys, user, clock.now)
    assert secret is not None
    code = totp.code_at(secret, clock.now)
    confirmed = await trader.hx(
        "POST", "/settings/security/2fa/confirm", {"password": PASSWORD, "code": code}
    )
    assert confirmed.status_code == 422
    assert (await alice(app)).totp_secret is None


async def test_stored_passkeys_hold_nothing_secret_and_no_username(app, with_passkey):
    rows = await passkey_rows(app)
    user = await alice(app)
    assert user.passkey_handle and "alice" not in user.passkey_handle
    assert len(webauthn.unb64(rows[0].credential_id)) >= 16
    assert "alice" not in rows[0].credential_data


async def test_expired_challenges_are_pruned_and_events_read_well(app, with_passkey, clock):
    from webapp import activity, maintenance

    trader, _key = with_passkey
    await options(trader, f"{BASE}/assert")
    clock.advance(121)
    await maintenance.prune_events(app.state.ctx)
    async with app.state.ctx.db() as db:
        assert (await db.exec(select(PasskeyChallenge))).all() == []
    assert activity.label("passkey_counter_regressed") == "Passkey refused: it may have been copied"
    assert "passkey_counter_regressed" in activity.ALARMING


async def test_change_password_with_a_passkey(app, with_passkey):
    trader, key = with_passkey
    page = await trader.page("/settings/security")
    assert "data-passkey-assert" in page.text.split('id="password"')[1]
    data = {"password": PASSWORD, "new_password": "another long password 42"}
    refused = await trader.hx("POST", "/settings/security/password", data)
    assert refused.status_code == 422  # the second factor is needed
    data["passkey"] = await answer(trader, key)
    changed = await trader.hx("POST", "/settings/security/password", data)
    assert changed.status_code == 200 and "Password changed" in changed.text
    assert (await trader.login("another long password 42")).status_code == 303


def test_passkey_names_are_one_printable_line():
    from webapp.services.passkeys import clean_name

    assert clean_name("  Work\r\nlaptop\x1b[31m ", 0) == "Work laptop [31m"
    assert clean_name("\t\u200b", 2) == "Passkey 3"
    assert len(clean_name("x" * 500, 0)) == 64


async def test_the_api_counts_a_passkey_as_2fa(app, with_passkey):
    trader, _key = with_passkey
    key = await trader.reveal_key()  # inside the window the passkey step-up opened
    me = await trader.client.get("/api/v1/me", headers={"api-key": key})
    assert me.status_code == 200
    assert me.json()["result"]["twoFactor"]["enrolled"] is True


async def test_trading_credentials_with_a_passkey(app, with_passkey, clock):
    trader, key = with_passkey
    await trader.page("/trading-accounts/new")
    account = helpers.ZERODHA
    assert (await trader.form("/trading-accounts", account)).status_code == 303
    clock.advance(400)
    await trader.page("/settings/security")
    asked = await trader.hx("POST", "/trading-accounts/1/view", {})
    assert "data-passkey-assert" in asked.text and "broker-pass" not in asked.text
    data = {"step": "verify", "password": PASSWORD, "passkey": await answer(trader, key)}
    shown = await trader.hx("POST", "/trading-accounts/1/view", data)
    assert shown.status_code == 200 and "broker-pass" in shown.text


async def test_recovery_codes_cover_a_passkey_only_account(app, trader, clock):
    key = SoftAuthenticator()
    added = await add_passkey(trader, key)
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", added.text)
    assert len(codes) == 10
    signed = await answer(trader, key)
    data = {"step": "verify", "password": PASSWORD, "passkey": signed}
    assert (await trader.hx("POST", "/settings/security/2fa/login-on", data)).status_code == 200
    await trader.logout()
    await trader.login()
    page = await trader.page("/login/code")
    assert "Recovery code" in page.text and "6-digit" not in page.text
    done = await trader.form("/login/code", {"code": codes[0]})
    assert done.status_code == 303 and done.headers["location"] == "/settings/security"
    await trader.page("/settings/security")
    data = {"step": "verify", "password": PASSWORD, "code": codes[1]}
    assert (await trader.hx("POST", "/settings/security/2fa/login-off", data)).status_code == 200
    assert (await alice(app)).login_2fa is False


async def test_a_passkey_only_account_adds_an_authenticator_app_with_its_passkey(
    app, with_passkey, clock
):
    trader, key = with_passkey
    clock.advance(400)
    page = await trader.page("/settings/security")
    assert "Set up an authenticator app" in page.text
    started = await trader.hx("POST", "/settings/security/2fa/setup")
    assert "Confirm with a passkey" in started.text and "data-passkey-keep-code" in started.text
    from tests.helpers import secret_in
    from webapp import totp

    secret = secret_in(started.text)
    data = {"password": PASSWORD, "code": totp.code_at(secret, clock.now)}
    data["passkey"] = await answer(trader, key)
    confirmed = await trader.hx("POST", "/settings/security/2fa/confirm", data)
    assert confirmed.status_code == 200, confirmed.text
    user = await alice(app)
    assert user.totp_secret is not None and user.passkey_count == 1
    assert "Set up an authenticator app" not in confirmed.text


async def test_a_passkey_journey_logs_no_challenge_id_or_signature(app, trader, caplog):
    import json
    import logging

    caplog.set_level(logging.DEBUG)
    key = SoftAuthenticator()
    assert (await add_passkey(trader, key)).status_code == 200
    opts = await options(trader, f"{BASE}/assert")
    signed = key.get(opts)
    data = {"step": "verify", "password": PASSWORD, "passkey": signed}
    assert (await trader.hx("POST", "/settings/security/2fa/login-on", data)).status_code == 200
    await trader.logout()
    await trader.login()
    await trader.page("/login/code")
    login_opts = await options(trader, "/login/passkey/options")
    pending = session_payload(trader.client)["pending_passkey"]
    assert (
        await trader.form("/login/passkey", {"passkey": key.get(login_opts)})
    ).status_code == 303
    response = json.loads(signed)["response"]
    secrets = [
        opts["publicKey"]["challenge"],
        login_opts["publicKey"]["challenge"],
        json.loads(signed)["id"],
        key.credential_id.hex(),
        response["signature"],
        response["userHandle"],
        pending,
    ]
    # Driver and SQL loggers carry parameters; the app keeps them at warnings even at
    # debug level (webapp.logs.QUIET), so only the others count, as in production.
    from webapp.logs import QUIET

    quiet = ("httpx", "httpcore", *QUIET)
    server_side = [r for r in caplog.records if not r.name.startswith(quiet)]
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in server_side)
    assert "passkey_added" in logged
    for value in secrets:
        assert value not in logged, f"found in logs: {value[:6]}…"


async def test_a_duplicate_that_slips_past_the_check_is_409_not_500(app, with_passkey, monkeypatch):
    from webapp.repositories import passkeys as repo

    trader, key = with_passkey

    async def never_taken(db, credential_id):
        return False  # as if a concurrent request added it between check and insert

    monkeypatch.setattr(repo, "id_taken", never_taken)
    again = await add_passkey(trader, key, passkey=await answer(trader, key))
    assert again.status_code == 409
    assert len(await passkey_rows(app)) == 1 and (await alice(app)).passkey_count == 1


async def test_the_status_panel_counts_a_passkey_as_2fa(app, with_passkey):
    trader, _key = with_passkey
    status = (await trader.client.get("/settings/security/status")).text
    assert "<strong>On</strong>" in status and "Set up 2FA" not in status
    assert "credentials code on" in status
