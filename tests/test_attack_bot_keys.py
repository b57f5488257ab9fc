"""Attacks on the API keys for trading bots, through the real app and real SQLite files.

Each test is one attack (or a family of them) and asserts what really happens: the
step-up with only the password, other users' key ids, CSRF, races between requests,
address spoofing and allow-list edge cases, expiry and grace-period boundaries, the
rate limit, hostile form input, and where a full key may end up.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re

import httpx
import pytest
from sqlmodel import select

from tests.helpers import (
    PASSWORD,
    Trader,
    api,
    change_2fa,
    enrol,
    fast_passwords,
    key_in,
    make_client,
    session_payload,
)
from tests.test_bot_keys import ACCOUNT, NEW, create_key, events, key_row, new_key
from webapp import api_usage, key_rules
from webapp.app import create_app
from webapp.models import ApiKey, ApiKeyUse, SecurityEvent

KEY_SHAPE = re.compile(r"at_[0-9A-Za-z]{49}")
LEGACY = "/settings/security/api-key"


async def key_rows(app) -> list[ApiKey]:
    """Every stored key row, by id."""
    async with app.state.ctx.db() as db:
        return list((await db.exec(select(ApiKey).order_by(ApiKey.id))).all())


def key_state(rows: list[ApiKey]) -> list[tuple]:
    """What an attacker might change in the key rows (secrets by digest)."""
    return [
        (r.id, r.name, r.permissions, r.allow_ips, r.expires_at, r.digest, r.prev_digest)
        for r in rows
    ]


async def works(client: httpx.AsyncClient, key: str) -> bool:
    """Whether the API accepts ``key`` right now (from the test client's address)."""
    response = await api(client, "GET", "/api/v1/me", key)
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


async def second_trader(app, username: str = "bob") -> tuple[httpx.AsyncClient, Trader]:
    """Another user with their own browser (the caller closes the client)."""
    client = make_client(app)
    trader = Trader(client, username=username)
    assert (await trader.register()).status_code == 303
    return client, trader


def roll_form(grace: str) -> dict[str, str]:
    """The Re-generate dialog, confirmed, with the password."""
    return {"step": "verify", "confirm": "yes", "grace": grace, "password": PASSWORD}


# 1. Only the password, with Credentials 2FA on ------------------------------------------


async def test_password_only_cannot_act_on_keys_by_any_method_or_header(
    app, client, trader, clock
):
    await enrol(trader, clock)
    await change_2fa(trader, clock, "credentials-on")
    clock.advance(301)
    key = await new_key(trader, name="victim", code=trader.code(clock))
    row = await key_row(app, "victim")
    clock.advance(301)  # the window of the set-up and of the creation has lapsed
    before = key_state(await key_rows(app))
    proofs_before = session_payload(client).get("proof", {})
    one = f"{NEW}/{row.id}"
    password_only = {
        "step": "verify",
        "password": PASSWORD,
        "stepup_password": PASSWORD,
        "confirm": "yes",
        "grace": "7d",
        "name": "attacker",
        "perm_read": "yes",
        "perm_manage": "yes",
        "allow_ips": "",
        "expires": "",
    }
    guesses = [
        {},  # no step-up fields at all: "the window is open, surely"
        password_only,
        {**password_only, "code": "000000", "stepup_code": "000000"},
        {**password_only, "code": "abcde-fghij", "stepup_code": "abcde-fghij"},
        {**password_only, "passkey": '{"id": "x", "response": {}}'},
    ]
    paths = [
        NEW,
        f"{one}/view",
        f"{one}/regenerate",
        f"{one}/expire-old",
        f"{one}/limits",
        f"{one}/delete",
        f"{LEGACY}/view",
        f"{LEGACY}/regenerate",
        f"{LEGACY}/expire-old",
    ]
    statuses: set[int] = set()
    for path in paths:
        for method in ("POST", "PUT", "GET", "HEAD"):
            for data in guesses:
                for htmx in (True, False):
                    headers = {"X-CSRF-Token": trader.csrf}
                    if htmx:
                        headers["HX-Request"] = "true"
                    response = await client.request(
                        method,
                        path,
                        data=data if method in ("POST", "PUT") else None,
                        headers=headers,
                    )
                    statuses.add(response.status_code)
                    assert response.status_code != 500, (method, path)
                    assert not KEY_SHAPE.search(response.text), (method, path, data)
                    if method == "POST":
                        # Asked again (the dialog), or refused: never done.
                        assert (
                            'id="stepup-dialog"' in response.text
                            or response.status_code in (400, 403, 422, 423, 429)
                        ), (path, response.status_code, response.text[:200])
    assert statuses <= {200, 400, 401, 403, 405, 422, 423, 429}
    assert key_state(await key_rows(app)) == before
    assert await works(client, key)
    # The window was never opened: the session holds no newer second-factor proof
    # (the one from the creation above is 301 s old, outside the window).
    proofs = session_payload(client).get("proof", {})
    assert proofs.get("second") == proofs_before.get("second")
    assert clock.now - proofs["second"] > app.state.ctx.settings.stepup_seconds
    for kind in ("api_key_viewed", "api_key_regenerated", "api_key_changed", "api_key_deleted"):
        assert await events(app, kind) == []
    # The dialogs a GET opens only ask.
    for path in (f"{one}/regenerate", f"{one}/delete"):
        dialog = await trader.hx("GET", path)
        assert dialog.status_code == 200 and 'name="stepup_code"' not in dialog.text
        assert 'name="code"' in dialog.text and not KEY_SHAPE.search(dialog.text)


# 2. Other users' keys and impossible ids -----------------------------------------------


async def test_other_users_key_ids_are_404_on_every_route(app, client, trader):
    bob_client, bob = await second_trader(app)
    try:
        bob_key = await new_key(bob, name="bob's bot", read=True, manage=True)
        bob_row = await key_row(app, "bob's bot")
        async with app.state.ctx.db() as db:
            bob_default = (
                await db.exec(
                    select(ApiKey).where(ApiKey.user_id == bob_row.user_id, ApiKey.is_default)
                )
            ).one()
    finally:
        await bob_client.aclose()
    before = key_state(await key_rows(app))
    # Alice opens her step-up window: a real password, the wrong user's key.
    await trader.reveal_key()
    full = {**roll_form("7d"), "name": "mine now", "perm_read": "yes", "perm_manage": "yes"}
    full |= {"stepup_password": PASSWORD, "allow_ips": "", "expires": ""}
    for key_id in (bob_row.id, bob_default.id):
        one = f"{NEW}/{key_id}"
        for method, path in [
            ("GET", one),
            ("GET", f"{one}/masked"),
            ("GET", f"{one}/regenerate"),
            ("GET", f"{one}/delete"),
            ("POST", f"{one}/view"),
            ("POST", f"{one}/regenerate"),
            ("POST", f"{one}/expire-old"),
            ("POST", f"{one}/limits"),
            ("POST", f"{one}/delete"),
        ]:
            response = await trader.hx(method, path, full if method == "POST" else None)
            assert response.status_code == 404, (method, path, response.status_code)
            assert "bob" not in response.text and not KEY_SHAPE.search(response.text)
    assert key_state(await key_rows(app)) == before
    assert await works(client, bob_key)


@pytest.mark.parametrize(
    "key_id",
    ["0", "-1", "abc", "1.5", "1e3", "%20", "99999999999999999999", "9223372036854775808"],
)
async def test_impossible_key_ids_are_404_never_500(app, trader, key_id):
    await trader.reveal_key()  # the window is open: a found key would be acted on
    before = key_state(await key_rows(app))
    for method, suffix in [
        ("GET", ""),
        ("GET", "/masked"),
        ("GET", "/regenerate"),
        ("GET", "/delete"),
        ("POST", "/view"),
        ("POST", "/regenerate"),
        ("POST", "/expire-old"),
        ("POST", "/limits"),
        ("POST", "/delete"),
    ]:
        data = {**roll_form("now"), "name": "x", "perm_read": "yes"} if method == "POST" else None
        response = await trader.hx(method, f"{NEW}/{key_id}{suffix}", data)
        assert response.status_code in (404, 405), (method, suffix, response.status_code)
    assert key_state(await key_rows(app)) == before


async def test_a_deleted_key_id_is_404_everywhere(app, client, trader):
    key = await new_key(trader, name="short-lived")
    row = await key_row(app, "short-lived")
    one = f"{NEW}/{row.id}"
    deleted = await trader.hx("POST", f"{one}/delete", {"step": "verify", "confirm": "yes"})
    assert deleted.status_code == 200
    for method, path in [
        ("GET", one),
        ("GET", f"{one}/masked"),
        ("POST", f"{one}/view"),
        ("POST", f"{one}/regenerate"),
        ("POST", f"{one}/expire-old"),
        ("POST", f"{one}/limits"),
        ("POST", f"{one}/delete"),
    ]:
        data = {**roll_form("7d"), "name": "back", "perm_read": "yes"}
        response = await trader.hx(method, path, data if method == "POST" else None)
        assert response.status_code == 404, (method, path)
        assert not KEY_SHAPE.search(response.text)
    assert not await works(client, key)
    assert [r.name for r in await key_rows(app)] == ["Default key"]
