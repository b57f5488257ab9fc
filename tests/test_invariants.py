"""Security invariants that hold by construction, tried as an attacker would.

The password-only attacker walks the app's own route table (not a hand list): every
POST endpoint gets the password and no code. Afterwards the step-up still asks for
the code, and the API key is the one it was.
"""

from __future__ import annotations

import re

import httpx
import pytest
from sqlmodel import select
from starlette.routing import Route

from tests import helpers
from tests.helpers import PASSWORD, Trader, change_2fa, enrol, make_client, session_payload
from tests.soft_authenticator import SoftAuthenticator, add_passkey
from webapp.models import ApiKey, Passkey, User
from webapp.security import policy
from webapp.security.policy import POLICY, Action, Factor, Proofs, Second

ACCOUNT = helpers.ZERODHA
API_KEY = re.compile(r"at_[0-9A-Za-z]{49}")  # a key in full (a random challenge may hold "at_")
# What an attacker who knows only the password sends to every form.
PASSWORD_ONLY = {
    "step": "verify",
    "password": PASSWORD,
    "confirm": "yes",
    "code": "",
    "new_password": "a brand new password 123",
    "username": "alice",
    # Dialogs that carry another form's fields prefix their own (guard.Modal.prefix).
    "stepup_password": PASSWORD,
    "stepup_code": "",
    # A valid New-key / limits form and the longest grace period.
    "name": "attacker key",
    "perm_read": "yes",
    "perm_manage": "yes",
    "allow_ips": "",
    "grace": "7d",
    **{k: v + "x" for k, v in ACCOUNT.items() if k not in ("broker", "totpKey", "password")},
}


def post_paths(app, account_id: int, record_id: str, passkey_id: int, key_id: int) -> list[str]:
    """Every POST path of the app, its parameters filled in; sign-out last."""
    values = {
        "account_id": [str(account_id)],
        "key_id": [str(key_id)],
        "passkey_id": [str(passkey_id)],
        "record_id": [record_id],
        "action": ["login-on", "login-off", "credentials-off", "recovery-codes", "remove"],
        "rest": ["v1/trading-accounts"],
    }
    paths = []
    for route in app.routes:
        if not isinstance(route, Route) or "POST" not in (route.methods or ()):
            continue
        names = re.findall(r"{(\w+)(?::\w+)?}", route.path)
        expanded = [route.path]
        for name in names:
            pattern = re.compile(r"{" + name + r"(?::\w+)?}")
            expanded = [pattern.sub(v, p) for p in expanded for v in values[name]]
        paths.extend(expanded)
    paths.sort(key=lambda p: p == "/logout")
    return paths


async def stored_key(app) -> list[tuple]:
    """Every API key row: name, limits, digests and ciphertexts."""
    async with app.state.ctx.db() as db:
        rows = (await db.exec(select(ApiKey).order_by(ApiKey.id))).all()
        return [
            (r.name, r.permissions, r.allow_ips, r.digest, r.secret, r.prev_digest) for r in rows
        ]


@pytest.fixture
async def guarded(app, trader: Trader, clock):
    """Alice: 2FA enrolled, a passkey too, Credentials 2FA on, one trading account."""
    await trader.reveal_key()
    await enrol(trader, clock)
    response = await change_2fa(trader, clock, "credentials-on")
    assert response.status_code == 200, response.text
    clock.advance(30)
    added = await add_passkey(trader, SoftAuthenticator(), code=trader.code(clock))
    assert added.status_code == 200, added.text
    # A named key (whose routes the walk then tries with the password alone).
    clock.advance(30)
    named = {"step": "verify", "name": "bot", "perm_read": "yes"}
    named |= {"stepup_password": PASSWORD, "stepup_code": trader.code(clock)}
    created = await trader.hx("POST", "/settings/security/api-keys", named)
    assert created.status_code == 201, created.text
    clock.advance(400)  # the owner's own proofs have expired
    await trader.page("/trading-accounts/new")
    created = await trader.form("/trading-accounts", ACCOUNT)
    assert created.status_code == 303, created.text
    async with app.state.ctx.db() as db:
        from webapp.models import TradingAccount

        account = (await db.exec(select(TradingAccount))).one()
    return trader, account.id


async def key_rows(app) -> list[ApiKey]:
    """Every stored API key."""
    async with app.state.ctx.db() as db:
        return list((await db.exec(select(ApiKey))).all())


async def passkey_ids(app) -> list[int]:
    """The ids of every stored passkey."""
    async with app.state.ctx.db() as db:
        return [p.id for p in (await db.exec(select(Passkey))).all()]


async def test_password_alone_opens_nothing_that_needs_the_code(app, guarded, clock):
    owner, account_id = guarded
    before = await stored_key(app)
    passkeys_before = await passkey_ids(app)
    async with make_client(app) as browser:
        attacker = Trader(browser)
        assert (await attacker.login()).status_code == 303
        key_id = max(row.id for row in await key_rows(app))
        paths = post_paths(app, account_id, "no-such-session", passkeys_before[0], key_id)
        assert len(paths) >= 20  # the whole table, not a sample
        for path in paths:
            await attacker.page("/settings/security")
            sent = dict(PASSWORD_ONLY)
            if path == "/settings/security/passkeys/add":
                # The attacker's own authenticator, answering a challenge of their session.
                made = await attacker.hx("POST", "/settings/security/passkeys/options")
                sent["attestation"] = SoftAuthenticator().create(made.json())
            response = await attacker.hx("POST", path, sent)
            assert response.status_code < 500, (path, response.status_code)
            assert not API_KEY.search(response.text) or path == "/register", path
            assert "broker-pass" not in response.text, path
            assert Factor.SECOND.value not in session_payload(browser).get("proof", {}), path
            if path == "/logout" or response.headers.get("HX-Redirect", "").startswith("/login"):
                await attacker.login()
        # Locking needs no step-up (it only takes access away), so the walk locked the
        # account: keys suspended, not changed. Unlocking needs the owner's code.
        async with app.state.ctx.db() as db:
            assert (await db.exec(select(User))).one().locked_at is not None
        await owner.login()
        clock.advance(30)
        unlock = {"password": PASSWORD, "code": owner.code(clock)}
        assert (await owner.hx("POST", "/settings/security/unlock", unlock)).status_code == 200
        # Still: View, View credentials and Re-generate ask for the code.
        await attacker.login()
        for path in (
            "/settings/security/api-key/view",
            f"/trading-accounts/{account_id}/view",
            "/settings/security/api-key/regenerate",
        ):
            asked = await attacker.hx("POST", path, {})
            assert 'name="code"' in asked.text, path
            tried = await attacker.hx("POST", path, {**PASSWORD_ONLY, "code": "000000"})
            assert tried.status_code in (422, 429), path
            assert "at_" not in tried.text and "broker-pass" not in tried.text
    assert await stored_key(app) == before
    assert await passkey_ids(app) == passkeys_before  # none added, none removed
    # The owner's key still works and the owner can still use it all with the code.
    api = await owner.client.get("/api/v1/me", headers={"api-key": owner.api_key})
    assert api.status_code == 200


async def test_enrolment_password_does_not_open_the_window(app, trader: Trader, clock):
    """The reported bypass: the set-up confirmation's password check, then View."""
    await enrol(trader, clock)
    await change_2fa(trader, clock, "credentials-on")
    clock.advance(400)
    # Posting the password to the set-up confirmation, as an attacker would.
    await trader.hx("POST", "/settings/security/2fa/confirm", {"password": PASSWORD, "code": ""})
    shown = await trader.hx("POST", "/settings/security/api-key/view", {})
    assert 'name="code"' in shown.text
    assert "at_" not in shown.text


async def test_turning_credentials_2fa_on_voids_password_only_proofs(app, trader, clock):
    await enrol(trader, clock)
    clock.advance(400)
    assert (await trader.view_key()).status_code == 200  # password only: fine for now
    await change_2fa(trader, clock, "credentials-on")
    # The change proved the code in its own request; a later password-only proof
    # must not pair with it.
    clock.advance(400)
    assert (await trader.view_key()).status_code == 422  # now the code is needed
    shown = await trader.hx("POST", "/settings/security/api-key/view", {})
    assert 'name="code"' in shown.text


def test_policy_table_covers_every_action_and_never_pairs_old_factors():
    assert set(POLICY) >= set(Action)
    user = type("U", (), {"enrolled": True, "credentials_2fa": True})()
    for action in (Action.VIEW_API_KEY, Action.CHANGE_2FA):
        assert policy.needed(user, action) == {Factor.PASSWORD, Factor.SECOND}
    password_only = Proofs(at={Factor.PASSWORD: 100.0})
    with pytest.raises(policy.Denied):
        policy.require(password_only, user, Action.VIEW_API_KEY, 101.0, 300)
    both = Proofs(at={Factor.PASSWORD: 100.0, Factor.SECOND: 100.0})
    policy.require(both, user, Action.VIEW_API_KEY, 101.0, 300)
    with pytest.raises(policy.Denied):  # too old
        policy.require(both, user, Action.VIEW_API_KEY, 401.0, 300)
    with pytest.raises(policy.Denied):  # 2FA changes need this very request
        policy.require(both, user, Action.CHANGE_2FA, 101.0, 300)
    assert all(r.second is not Second.NEVER for a, r in POLICY.items() if a != Action.ENROL_2FA)


async def test_a_route_that_forgets_the_step_up_is_refused_by_the_service(app, trader):
    from webapp.services import api_key
    from webapp.services.actor import Actor

    ctx = app.state.ctx
    async with ctx.db() as db:
        from webapp.repositories import users

        user = await users.by_username(db, "alice")
    actor = Actor(ctx, user, "r", "203.0.113.7", "test", Proofs())
    with pytest.raises(policy.Denied):
        await api_key.reveal(actor)
    with pytest.raises(policy.Denied):
        await api_key.regenerate(actor)


async def test_signing_in_again_ends_the_previous_session(app, trader: Trader):
    first = session_payload(trader.client)["sid"]
    assert (await trader.login()).status_code == 303
    assert session_payload(trader.client)["sid"] != first
    from webapp.repositories import sessions as records
    from webapp.security.sessions import record_id_for

    async with app.state.ctx.db() as db:
        old = await records.get(db, record_id_for(first))
    assert old is not None and old.revoked_at is not None


async def test_registering_from_a_signed_in_browser_ends_that_session(app, trader: Trader):
    first = session_payload(trader.client)["sid"]
    second = Trader(trader.client, username="bob", csrf=trader.csrf)
    assert (await second.register()).status_code == 303
    from webapp.repositories import sessions as records
    from webapp.security.sessions import record_id_for

    async with app.state.ctx.db() as db:
        old = await records.get(db, record_id_for(first))
    assert old is not None and old.revoked_at is not None


@pytest.fixture
def short_idle(settings):
    """Idle timeout of 20 s: below the one-minute last-seen interval."""
    from dataclasses import replace

    return replace(settings, idle_timeout_seconds=20)


async def test_idle_timeout_below_the_last_seen_interval(short_idle, clock):
    from tests.helpers import fast_passwords
    from webapp.app import create_app

    application = create_app(short_idle, clock=clock, passwords=fast_passwords())
    lifespan = application.router.lifespan_context(application)
    async with lifespan, make_client(application) as client:
        t = Trader(client)
        await t.register()
        for _ in range(6):  # active every 10 s for a minute: stays signed in
            clock.advance(10)
            assert (await client.get("/settings/security")).status_code == 200
        clock.advance(21)  # then idle past the timeout: signed out
        assert (await client.get("/settings/security")).status_code == 303


async def test_registration_is_throttled_per_address(app, client: httpx.AsyncClient, settings):
    statuses = []
    for i in range(settings.registrations_per_hour + 2):
        t = Trader(client, username=f"user{i:03d}")
        client.cookies.clear()
        statuses.append((await t.register()).status_code)
    assert statuses[: settings.registrations_per_hour] == [303] * settings.registrations_per_hour
    assert statuses[-2:] == [429, 429]


async def test_trailing_slash_redirect_is_relative(client: httpx.AsyncClient):
    response = await client.get("/login/", headers={"host": "evil.example"})
    assert response.status_code == 307
    assert response.headers["location"] == "/login"
    response = await client.get("https://testserver//evil.example/")
    assert response.status_code == 404  # never a Location of "//evil.example"


async def test_expired_throttle_rows_are_pruned(app, client, clock):
    from webapp import maintenance
    from webapp.models import Throttle

    t = Trader(client, username="nobody-here")
    await t.login("a wrong password!")  # a typed, unknown username is now stored
    async with app.state.ctx.db() as db:
        assert any("nobody-here" in r.key for r in (await db.exec(select(Throttle))).all())
    clock.advance(2 * 86400)
    await maintenance.prune_events(app.state.ctx)
    async with app.state.ctx.db() as db:
        assert not any("nobody-here" in r.key for r in (await db.exec(select(Throttle))).all())


async def test_revealed_key_format_is_unchanged(trader: Trader):
    assert helpers.key_in((await trader.view_key()).text) == await trader.reveal_key()


def test_readme_states_the_policy_table():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    built_in = {a.value for a in Action}  # extensions (tests/example) register more
    for action, needs, fresh in policy.table():
        if action not in built_in:
            continue
        assert f"| {action} | {needs} | {fresh} |" in readme, action


def test_route_modules_import_no_other_route_module():
    """Shared page state lives in webapp/sections/, the API envelope in webapp/api_auth.py."""
    import ast
    from pathlib import Path

    for path in (Path(__file__).resolve().parents[1] / "webapp" / "routes").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("webapp.routes"), (path.name, node.module)
