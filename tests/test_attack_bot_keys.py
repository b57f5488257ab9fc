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

from tests.bot_keys import ACCOUNT, NEW, changing_paths, create_key, events, key_row, new_key
from tests.helpers import (
    PASSWORD,
    Trader,
    api,
    change_2fa,
    enrol,
    key_in,
    make_client,
    registered,
    session_payload,
)
from tests.live_server import LiveTrader, create_bot_key, register_and_get_key, running_server
from webapp import api_usage, key_rules
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


async def test_password_only_cannot_act_on_keys_by_any_method_or_header(app, client, trader, clock):
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
    paths = changing_paths(app, row.id)
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
                        assert 'id="stepup-dialog"' in response.text or response.status_code in (
                            400,
                            403,
                            422,
                            423,
                            429,
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


# 3. CSRF --------------------------------------------------------------------------------


async def test_every_bot_key_change_needs_the_csrf_token_and_same_site(app, client, trader):
    key = await new_key(trader, name="target", read=True, manage=True)
    row = await key_row(app, "target")
    await trader.reveal_key()  # the window is open: a forged request would be acted on
    before = key_state(await key_rows(app))
    data = {**roll_form("7d"), "name": "forged", "perm_read": "yes", "stepup_password": PASSWORD}
    forgeries = [
        {},  # no token at all
        {"X-CSRF-Token": "x" * 43},  # a wrong one
        {"X-CSRF-Token": trader.csrf[:-1]},  # almost right
        {"Origin": "https://evil.example", "Referer": "https://evil.example/"},
        # The right token, but the browser says the request comes from another site.
        {"X-CSRF-Token": trader.csrf, "Sec-Fetch-Site": "cross-site"},
    ]
    paths = changing_paths(app, row.id)
    assert len(paths) == 9  # New key; view, re-generate, expire, limits, delete; 3 default
    for path in paths:
        for headers in forgeries:
            for hx in (True, False):
                sent = {**headers, **({"HX-Request": "true"} if hx else {})}
                response = await client.post(path, data=data, headers=sent)
                assert response.status_code == 403, (path, headers, response.status_code)
                assert not KEY_SHAPE.search(response.text)
        # The token as a form field of another session's value is refused too.
        response = await client.post(path, data={**data, "csrf_token": "y" * 43})
        assert response.status_code == 403
    assert key_state(await key_rows(app)) == before
    assert await works(client, key)
    assert len(await events(app, "api_key_viewed")) == 1  # only the reveal above


# 4. Races ---------------------------------------------------------------------------------


async def test_fifty_concurrent_creates_at_19_keys_end_with_at_most_20(app, trader):
    for i in range(key_rules.MAX_KEYS - 2):  # the default key plus 18: 19 keys
        await new_key(trader, name=f"bot {i}")
    assert len(await key_rows(app)) == key_rules.MAX_KEYS - 1
    # The window is open (the creations above): each request goes straight ahead.
    responses = await asyncio.gather(
        *(create_key(trader, f"racer {i}") for i in range(50)), return_exceptions=True
    )
    statuses = sorted(
        r.status_code if isinstance(r, httpx.Response) else repr(r) for r in responses
    )
    assert statuses.count(201) == 1 and set(statuses) == {201, 409}, statuses
    assert len(await key_rows(app)) == key_rules.MAX_KEYS
    assert len(await events(app, "api_key_created")) == key_rules.MAX_KEYS - 1


async def test_fifty_concurrent_regenerates_leave_only_the_newest_two_working(app, client, trader):
    original = await new_key(trader, name="rolled")
    row = await key_row(app, "rolled")
    responses = await asyncio.gather(
        *(trader.hx("POST", f"{NEW}/{row.id}/regenerate", roll_form("7d")) for _ in range(50))
    )
    assert [r.status_code for r in responses] == [200] * 50
    shown = [key_in(r.text) for r in responses]
    assert len(set(shown)) == 50
    working = [k for k in [original, *shown] if await works(client, k)]
    # As if one after another: the newest secret and the one it replaced, never the
    # original (rolled 50 times) and never a key shown to nobody.
    assert len(working) == 2 and original not in working
    assert len(await events(app, "api_key_rolled_with_grace")) == 50


async def test_regenerate_now_racing_regenerate_with_grace_never_keeps_the_old_key(
    app, client, trader
):
    """The user re-generates "now" because the key leaked; a second tab re-generates
    with 7 days at the same moment. Whichever order they take, the leaked key dies."""
    for attempt in range(5):
        leaked = await new_key(trader, name=f"leaked {attempt}")
        row = await key_row(app, f"leaked {attempt}")
        one = f"{NEW}/{row.id}/regenerate"
        now, grace = await asyncio.gather(
            trader.hx("POST", one, roll_form("now")), trader.hx("POST", one, roll_form("7d"))
        )
        assert now.status_code == grace.status_code == 200
        assert not await works(client, leaked), attempt
        assert await works(client, key_in(now.text)) or await works(client, key_in(grace.text))


async def test_expire_now_racing_regenerate_never_keeps_the_first_key(app, client, trader):
    for attempt in range(5):
        first = await new_key(trader, name=f"pair {attempt}")
        row = await key_row(app, f"pair {attempt}")
        one = f"{NEW}/{row.id}"
        rolled = await trader.hx("POST", f"{one}/regenerate", roll_form("7d"))
        second = key_in(rolled.text)
        expire, again = await asyncio.gather(
            trader.hx("POST", f"{one}/expire-old", {"step": "verify", "confirm": "yes"}),
            trader.hx("POST", f"{one}/regenerate", roll_form("7d")),
        )
        assert expire.status_code == again.status_code == 200
        third = key_in(again.text)
        assert not await works(client, first), attempt
        assert await works(client, third)
        # The second key works only if the expiry came first (it then became the old
        # key of the re-generate): never beyond the 7 days shown for it.
        me = await api(client, "GET", "/api/v1/me", second)
        if me.status_code == 200:
            assert me.json()["result"]["key"]["expiresAt"] == "2027-01-22T08:00:00+00:00"


async def test_overlapping_grace_periods_never_extend_the_first_key(app, client, trader, clock):
    first = await new_key(trader, name="overlap")
    row = await key_row(app, "overlap")
    one = f"{NEW}/{row.id}/regenerate"
    second = key_in((await trader.hx("POST", one, roll_form("7d"))).text)
    clock.advance(120)
    third = key_in((await trader.hx("POST", one, roll_form("7d"))).text)
    # The first key was promised 7 days; the second re-generate drops it (only the newest
    # two work), it is not carried for another 7 days.
    assert not await works(client, first)
    assert await works(client, second) and await works(client, third)
    me = (await api(client, "GET", "/api/v1/me", second)).json()["result"]["key"]
    assert me["expiresAt"] == "2027-01-22T08:02:00+00:00"
    clock.advance(7 * 86400 - 1)
    assert await works(client, second)
    clock.advance(1)
    assert not await works(client, second) and not await works(client, first)
    assert await works(client, third)


async def test_delete_racing_every_other_key_change_is_never_a_500(app, client, trader):
    changes = [
        ("regenerate", roll_form("7d")),
        ("view", {"step": "verify", "password": PASSWORD}),
        ("expire-old", {"step": "verify", "confirm": "yes"}),
        ("limits", {"step": "verify", "name": "renamed", "perm_read": "yes"}),
    ]
    for attempt in range(3):
        for action, data in changes:
            name = f"doomed {action} {attempt}"
            key = await new_key(trader, name=name)
            row = await key_row(app, name)
            if action == "expire-old":
                await trader.hx("POST", f"{NEW}/{row.id}/regenerate", roll_form("7d"))
            one = f"{NEW}/{row.id}"
            deleted, other = await asyncio.gather(
                trader.hx("POST", f"{one}/delete", {"step": "verify", "confirm": "yes"}),
                trader.hx("POST", f"{one}/{action}", data),
            )
            assert deleted.status_code == 200, deleted.text
            assert other.status_code in (200, 404), (action, other.status_code)
            found = KEY_SHAPE.search(other.text)
            for shown in [key, *([found.group(0)] if found else [])]:
                assert not await works(client, shown), action
    assert [r.name for r in await key_rows(app)] == ["Default key"]


# 5. The API side: addresses, allow-lists, boundaries, rate limit, permissions ----------


async def _call_from(app, address: str, key: str, headers: dict[str, str] | None = None) -> int:
    transport = httpx.ASGITransport(app=app, client=(address, 1))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        response = await c.get("/api/v1/me", headers={"api-key": key, **(headers or {})})
    return response.status_code


SPOOFS = [
    {"X-Forwarded-For": "198.51.100.9"},
    {"X-Forwarded-For": "198.51.100.9, 198.51.100.9"},
    {"Forwarded": "for=198.51.100.9;proto=https"},
    {"Forwarded": 'for="[2001:db8::1]"'},
    {"X-Real-IP": "198.51.100.9"},
    {"True-Client-IP": "198.51.100.9"},
    {"CF-Connecting-IP": "198.51.100.9"},
    {"X-Client-IP": "198.51.100.9"},
]


async def test_forwarding_headers_cannot_spoof_the_allow_list_without_a_trusted_proxy(
    app, client, trader
):
    key = await new_key(trader, name="office", allow="198.51.100.9, 2001:db8::1")
    for headers in SPOOFS:
        response = await client.get("/api/v1/me", headers={"api-key": key, **headers})
        assert response.status_code == 403, headers
        assert "(203.0.113.7)" in response.json()["message"]


async def test_behind_a_trusted_proxy_only_its_own_hop_counts(settings, clock):
    proxy = "203.0.113.7"  # the test client's address plays the proxy
    listed = dataclasses.replace(settings, trusted_proxies=proxy)
    async with registered(listed, clock, usage_writer=False) as (app, client, trader):
        key = await new_key(trader, name="office", allow="198.51.100.9")
        cases = [
            # The proxy appends the real client: a value the attacker put first is ignored.
            ({"X-Forwarded-For": "198.51.100.9, 192.0.2.66"}, 403),
            ({"X-Forwarded-For": "192.0.2.66, 198.51.100.9"}, 200),
            # Only X-Forwarded-For is read; the others are the attacker's to write.
            ({"Forwarded": "for=198.51.100.9"}, 403),
            ({"X-Real-IP": "198.51.100.9"}, 403),
            # Garbage keeps the proxy's own address, which is not on the list.
            ({"X-Forwarded-For": "198.51.100.9, not-an-ip"}, 403),
            ({"X-Forwarded-For": "198.51.100.9/32"}, 403),
            # The mapped form of the allowed address is that address.
            ({"X-Forwarded-For": "::ffff:198.51.100.9"}, 200),
        ]
        for headers, status in cases:
            response = await client.get("/api/v1/me", headers={"api-key": key, **headers})
            assert response.status_code == status, headers
        # A request from elsewhere, not from the proxy, cannot use the header at all.
        spoofed = {"X-Forwarded-For": "198.51.100.9"}
        assert await _call_from(app, "192.0.2.66", key, spoofed) == 403
        # The proxy reaching the app over IPv6 as ::ffff:203.0.113.7 is not the listed
        # IPv4 proxy: the header is ignored (refused, never trusted by mistake).
        assert await _call_from(app, "::ffff:203.0.113.7", key, spoofed) == 403


@pytest.mark.parametrize(
    ("allow", "address", "status"),
    [
        ("192.0.2.1", "::ffff:192.0.2.1", 200),
        ("192.0.2.0/24", "::ffff:192.0.2.200", 200),
        ("192.0.2.1", "::ffff:192.0.2.2", 403),
        ("192.0.2.1", "64:ff9b::c000:201", 403),  # NAT64 is another address
        ("192.0.2.1", "2002:c000:201::1", 403),  # 6to4 too
        ("0.0.0.0/0", "198.18.0.1", 200),
        ("0.0.0.0/0", "2001:db8::1", 403),  # IPv4's "all" is not IPv6's
        ("::/0", "2001:db8::1", 200),
        ("::/0", "198.18.0.1", 403),
        ("0.0.0.0/0, ::/0", "2001:db8::1", 200),
        ("192.0.2.7/24", "192.0.2.200", 200),  # host bits are ignored: the /24
        ("192.0.2.1, 192.0.2.1, 192.0.2.1/32", "192.0.2.1", 200),
        # Typed in its IPv4-mapped IPv6 form, an entry means the IPv4 address.
        ("::ffff:192.0.2.1", "192.0.2.1", 200),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1", 200),
        ("::ffff:192.0.2.0/120", "192.0.2.77", 200),
        ("::ffff:192.0.2.0/120", "192.0.3.77", 403),
        ("fe80::1%eth0", "fe80::1", 200),  # a zone id names the link, not another host
        ("fe80::1%eth0", "fe80::2", 403),
    ],
)
async def test_allow_list_matches_addresses_as_they_are(app, trader, allow, address, status):
    key = await new_key(trader, name="edge", allow=allow)
    assert await _call_from(app, address, key) == status


async def test_allow_list_input_is_normalised_and_bounded(app, trader):
    await new_key(trader, name="dupes", allow="192.0.2.1\n192.0.2.1/32,  192.0.2.1 \r\n")
    assert (await key_row(app, "dupes")).allow_ips == "192.0.2.1"
    await new_key(trader, name="fifty", allow=",".join(f"10.0.0.{i}" for i in range(50)))
    assert len((await key_row(app, "fifty")).allow_ips.split(",")) == 50
    for allow, message in [
        ("1.2.3.4/33", "is not an IP address or range"),
        ("1.2.3", "is not an IP address or range"),
        ("::1::2", "is not an IP address or range"),
        ("2001:db8::/129", "is not an IP address or range"),
        ("10.0.0.1-10.0.0.9", "is not an IP address or range"),
        ("*", "is not an IP address or range"),
        ("a" * 500, "is not an IP address or range"),
        ("1" * 3000, "too long"),
        ("10.0.0.1\n" * 300, "too long"),
    ]:
        response = await create_key(trader, "bad list", allow=allow)
        assert response.status_code == 422 and message in response.text, allow
        # The message quotes at most 60 characters of a bad entry (the field keeps it all).
        error = re.search(r'id="new-key-allow-error">([^<]*)<', response.text)
        assert error and len(error.group(1)) < 140, allow
    assert len(await key_rows(app)) == 3


async def test_expiry_and_grace_end_at_the_exact_second(app, client, trader, clock):
    # Clock: 2027-01-15 08:00 UTC. The key ends at 2027-01-16 00:00 UTC.
    key = await new_key(trader, name="boundary", expires="2027-01-16", read=True, manage=True)
    row = await key_row(app, "boundary")
    rolled = await trader.hx("POST", f"{NEW}/{row.id}/regenerate", roll_form("1h"))
    new = key_in(rolled.text)
    clock.advance(3600 - 0.001)
    assert await works(client, key) and await works(client, new)
    clock.advance(0.001)  # the grace period's very second
    assert not await works(client, key) and await works(client, new)
    for method, path, body in [
        ("GET", "/api/v1/trading-accounts", None),
        ("POST", "/api/v1/trading-accounts", ACCOUNT),
    ]:
        assert (await api(client, method, path, key, body)).status_code == 401
    ends = 1_800_000_000.0 + 16 * 3600  # 2027-01-16 00:00 UTC
    clock.now = ends - 0.001
    assert await works(client, new)
    clock.now = ends
    refused = await api(client, "POST", "/api/v1/trading-accounts", new, ACCOUNT)
    assert refused.status_code == 401 and "expired on 2027-01-16" in refused.json()["message"]
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    async with app.state.ctx.db() as db:
        assert (await db.exec(select(SecurityEvent))).all()  # the app is still whole


async def test_refused_calls_spend_no_other_keys_tokens(app, client, trader, clock):
    victim = await new_key(trader, name="victim", read=True)
    walled = await new_key(trader, name="walled", allow="198.51.100.1")
    reader = await new_key(trader, name="reader", read=True)
    expiring = await new_key(trader, name="expiring", expires="2027-01-16")
    clock.now = 1_800_000_000.0 + 16 * 3600  # "expiring" has ended
    forged = victim[:-1] + ("A" if victim[-1] != "A" else "B")  # a bad checksum
    lookalike = "at_" + "0" * 49
    for _ in range(50):
        assert (await api(client, "GET", "/api/v1/me", forged)).status_code == 401
        assert (await api(client, "GET", "/api/v1/me", lookalike)).status_code == 401
        assert (await api(client, "GET", "/api/v1/me", walled)).status_code == 403
        assert (await api(client, "GET", "/api/v1/me", expiring)).status_code == 401
    # None of those touched the victim's bucket: its whole burst is there.
    statuses = [(await api(client, "GET", "/api/v1/me", victim)).status_code for _ in range(21)]
    assert statuses == [200] * 20 + [429]
    # A refused-address key is not charged either (its calls never counted); a call
    # refused for a missing permission is charged to the calling key only.
    walled_row = await key_row(app, "walled")
    limiter = app.state.ctx.rate_limiter
    assert limiter.take(walled_row.id, clock.now, walled_row.created_at) == 0.0
    for _ in range(20):
        refused = await api(client, "POST", "/api/v1/trading-accounts", reader, ACCOUNT)
        assert refused.status_code == 403
    limited = await api(client, "GET", "/api/v1/me", reader)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"


async def test_regenerating_does_not_refill_the_bucket(app, client, trader, clock):
    old = await new_key(trader, name="busy")
    row = await key_row(app, "busy")
    for _ in range(20):
        assert await works(client, old)
    assert (await api(client, "GET", "/api/v1/me", old)).status_code == 429
    new = key_in((await trader.hx("POST", f"{NEW}/{row.id}/regenerate", roll_form("1h"))).text)
    # The old and the new secret are one key: one bucket.
    assert (await api(client, "GET", "/api/v1/me", new)).status_code == 429
    assert (await api(client, "GET", "/api/v1/me", old)).status_code == 429


async def test_a_read_only_key_changes_nothing_through_any_write(app, client, trader):
    owner = await trader.reveal_key()
    made = await api(client, "POST", "/api/v1/trading-accounts", owner, ACCOUNT)
    account = made.json()["result"]["id"]
    one = f"/api/v1/trading-accounts/{account}"
    reader = await new_key(trader, name="reader", read=True)
    before = (await api(client, "GET", one, owner)).json()
    for method, path, body in [
        ("POST", "/api/v1/trading-accounts", ACCOUNT),
        ("PATCH", one, {"pseudoAccName": "Hijacked", "password": "new-pass"}),
        ("PUT", one, {"pseudoAccName": "Hijacked"}),  # no such endpoint: 404
        ("DELETE", one, None),
        ("DELETE", "/api/v1/trading-accounts/999999", None),
    ]:
        response = await api(client, method, path, reader, body)
        expected = 404 if method == "PUT" else 403
        assert response.status_code == expected, (method, path, response.status_code)
    assert (await api(client, "GET", one, owner)).json() == before
    listed = (await api(client, "GET", "/api/v1/trading-accounts", owner)).json()["result"]
    assert len(listed) == 1
    me = (await api(client, "GET", "/api/v1/me", reader)).json()["result"]["key"]
    assert me == {"name": "reader", "permissions": ["read"], "expiresAt": None}


# 6. Hostile input on the key forms ----------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'


async def test_names_with_markup_are_escaped_everywhere_they_show(app, client, trader):
    await new_key(trader, name=SCRIPT)
    await new_key(trader, name=ATTRIBUTE)
    script_row, attribute_row = await key_row(app, SCRIPT), await key_row(app, ATTRIBUTE)
    await trader.hx(
        "POST", f"{NEW}/{script_row.id}/limits", {"name": SCRIPT + "!", "perm_read": "yes"}
    )
    shown = []
    for row in (script_row, attribute_row):
        one = f"{NEW}/{row.id}"
        shown += [
            await client.get("/settings/security"),
            await client.get(one),
            await trader.hx("GET", f"{one}/regenerate"),
            await trader.hx("GET", f"{one}/delete"),
            await trader.hx("GET", f"{one}/masked"),
            await trader.hx("POST", f"{one}/view", {"step": "verify", "password": PASSWORD}),
        ]
    for response in shown:
        assert response.status_code == 200, response.request.url
        assert "<script>alert" not in response.text and "<img src=x" not in response.text
        assert '"><img' not in response.text  # the attribute is not broken out of
    page = (await client.get("/settings/security")).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "API key created" in page  # the activity log lists them, escaped as well


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("bot\x01\x07one", "bot one"),
        ("line\r\nbreak\tand\x0btab", "line break and tab"),
        ("\x1b[31mred\x1b[0m", "[31mred [0m"),
        ("right\u202eto-left", "right to-left"),  # no bidi override on the page or in logs
        ("zero\u200bwidth", "zero width"),
        ("  spaced   out  ", "spaced out"),
        ("ünïcødé ✓ 機器人", "ünïcødé ✓ 機器人"),
    ],
)
async def test_names_lose_control_and_format_characters(app, trader, caplog, name, stored):
    caplog.set_level(logging.INFO, logger="webapp")
    response = await create_key(trader, name)
    assert response.status_code == 201
    rows = await key_rows(app)
    assert rows[-1].name == stored
    for record in caplog.records:
        assert not any(ch in record.getMessage() for ch in "\x01\x07\r\x0b\x1b\u202e\u200b")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        # A lone surrogate as UTF-8 bytes is not UTF-8: it reads as U+FFFD, not a surrogate.
        (b"name=bot%ED%A0%80&perm_read=yes", 201),
        (b"name=bot%00&perm_read=yes", 400),
        (b"name=" + b"x" * 10_240 + b"&perm_read=yes", 422),
        (b"name=bot&name=two&perm_read=yes", 400),
        (b"name=bot&perm_read=yes&perm_read=yes", 400),
        (b"name=bot&perm_read=admin", 422),  # not the box's value: nothing ticked
        (b"name=bot&perm_read=yes&perm_admin=yes", 201),  # unknown boxes are ignored
        (b"name=bot&perm_read=yes&expires=2027-02-30", 422),
        (b"name=bot&perm_read=yes&expires=2027-13-01", 422),
        (b"name=bot&perm_read=yes&expires=tomorrow", 422),
        (b"name=bot&perm_read=yes&expires=2027-01-16T00%3A00", 422),
        (b"name=bot&perm_read=yes&expires=2026-12-31", 422),  # the past
        (b"name=bot&perm_read=yes&expires=2027-01-15", 422),  # today
        (b"name=bot&perm_read=yes&expires=0001-01-01", 422),
        (b"name=bot&perm_read=yes&expires=9999-12-31", 422),
        (b"name=bot&perm_read=yes&expires=-2028-01-01", 422),
        (b"name=bot&perm_read=yes&expires=8999-12-31", 201),
    ],
)
async def test_hostile_new_key_forms_get_a_4xx_and_create_nothing(app, trader, body, status):
    await trader.reveal_key()  # the window is open: a form that passed would be acted on
    headers = {
        "X-CSRF-Token": trader.csrf,
        "HX-Request": "true",
        "content-type": "application/x-www-form-urlencoded",
    }
    response = await trader.client.post(NEW, content=body, headers=headers)
    assert response.status_code == status, response.text[:300]
    assert len(await key_rows(app)) == (2 if status == 201 else 1)
    if status == 201:
        me = await api(trader.client, "GET", "/api/v1/me", key_in(response.text))
        assert me.status_code == 200
        name = (await key_rows(app))[-1].name
        assert name.isprintable() and not re.search("[\ud800-\udfff]", name)


async def test_hostile_limits_change_nothing(app, trader):
    await new_key(trader, name="steady", allow="192.0.2.1", expires="2028-01-01")
    row = await key_row(app, "steady")
    before = key_state(await key_rows(app))
    for data in [
        {"name": "", "perm_read": "yes"},
        {"name": "x" * 10_240, "perm_read": "yes"},
        {"name": "ok", "perm_read": ""},
        {"name": "ok", "perm_read": "yes", "allow_ips": "1.2.3.4/33"},
        {"name": "ok", "perm_read": "yes", "expires": "2020-01-01"},
        {"name": "ok", "perm_read": "yes", "expires": "31/12/2030"},
    ]:
        response = await trader.hx("POST", f"{NEW}/{row.id}/limits", {"step": "verify", **data})
        assert response.status_code == 422, data
    assert key_state(await key_rows(app)) == before


async def test_a_name_holding_an_api_key_is_refused(app, client, trader, caplog, stored_bytes):
    """Pasting a key into the name field would print it on the page, in the activity
    log and in the log lines, and store it in plain text."""
    caplog.set_level(logging.DEBUG, logger="webapp")
    default = await trader.reveal_key()
    for name in (default, f"bot {default}", default[:40], f"x{default[:24]}"):
        response = await create_key(trader, name)
        assert response.status_code == 422, name
        assert "looks like an API key" in response.text
        assert default not in response.text.replace(f'value="{name}"', "")
    row = await key_row(app, "Default key")
    assert len(await key_rows(app)) == 1
    assert default[3:20].encode() not in await stored_bytes()
    assert default not in caplog.text
    # A name may still start with the prefix itself.
    assert (await create_key(trader, "at_home bot")).status_code == 201
    assert row.id is not None


@pytest.mark.parametrize("grace", ["forever", "0", "7", "7d ", "30d", "-1h", "24H", "now\n"])
async def test_a_grace_period_not_offered_is_refused_before_anything_changes(
    app, client, trader, grace
):
    old = await new_key(trader, name="rolling")
    row = await key_row(app, "rolling")
    before = key_state(await key_rows(app))
    for path in (f"{NEW}/{row.id}/regenerate", f"{LEGACY}/regenerate"):
        response = await trader.hx("POST", path, roll_form(grace))
        assert response.status_code == 422, (path, response.status_code)
        assert not KEY_SHAPE.search(response.text)
    assert key_state(await key_rows(app)) == before
    assert await works(client, old)
    # An absent choice (an older page without the select) keeps meaning "now".
    done = await trader.hx("POST", f"{NEW}/{row.id}/regenerate", roll_form(""))
    assert done.status_code == 200 and not await works(client, old)


# 7. Where a full key may end up ---------------------------------------------------------


async def _bot_key_workout(app, client, trader, clock) -> list[str]:
    """Everything a bot operator does with keys; returns every key made on the way."""
    keys = [await trader.reveal_key()]
    keys.append(await new_key(trader, name="bot", read=True, manage=True, allow="203.0.113.0/24"))
    keys.append(await new_key(trader, name="spare", expires="2028-01-01"))
    bot = await key_row(app, "bot")
    rolled = await trader.hx("POST", f"{NEW}/{bot.id}/regenerate", roll_form("24h"))
    keys.append(key_in(rolled.text))
    legacy = await trader.hx("POST", f"{LEGACY}/regenerate", roll_form("1h"))
    keys.append(key_in(legacy.text))
    await trader.hx("POST", f"{NEW}/{bot.id}/view", {"step": "verify", "password": PASSWORD})
    await trader.hx("POST", f"{NEW}/{bot.id}/limits", {"name": "bot 2", "perm_read": "yes"})
    for key in keys:
        clock.advance(1)
        await api(client, "GET", "/api/v1/me", key)
        await api(client, "POST", "/api/v1/trading-accounts", key, ACCOUNT)
        # Keys where they do not belong: in the path, the query, a second header.
        await client.get(f"/api/v1/{key}", headers={"api-key": key})
        await client.get(f"/api/v1/me?api_key={key}")
        await client.get(f"/api/v1/me?q={key}", headers={"api-key": key})
        await client.get("/api/v1/me", headers=[("api-key", key), ("api-key", key)])
        await client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}x"})
        await client.get(f"/settings/security/api-keys/{key}")
        await trader.hx("POST", NEW, {"name": "n", "perm_read": "yes", "allow_ips": key})
    await trader.hx("POST", f"{NEW}/{bot.id}/expire-old", {"step": "verify", "confirm": "yes"})
    spare = await key_row(app, "spare")
    await trader.hx("POST", f"{NEW}/{spare.id}/delete", {"step": "verify", "confirm": "yes"})
    await api_usage.flush(app.state.ctx)
    clock.advance(3600)
    await api_usage.end_grace_periods(app.state.ctx)
    for path in ("/settings/security", f"{NEW}/{bot.id}", "/settings/security/activity"):
        await client.get(path)
    return keys


# The responses that exist to show a key: the one-time display and the two step-ups.
SHOWS_A_KEY = re.compile(
    r"^/settings/security/api-keys?(/\d+)?/(view|regenerate)$|^/settings/security/api-keys$"
)


async def test_no_full_key_outside_its_own_display(
    app, client, trader, clock, caplog, stored_bytes
):
    caplog.set_level(logging.DEBUG)
    seen: list[httpx.Response] = []

    async def keep(response: httpx.Response) -> None:
        await response.aread()
        seen.append(response)

    client.event_hooks["response"].append(keep)
    keys = await _bot_key_workout(app, client, trader, clock)
    assert len(set(keys)) == 5
    stored = await stored_bytes()
    async with app.state.ctx.db() as db:
        uses = (await db.exec(select(ApiKeyUse))).all()
        notes = (await db.exec(select(SecurityEvent))).all()
    assert len(uses) >= 10 and len(notes) >= 10
    # Every logger on the app's side (the driver's too); httpx's lines are this test's.
    logged = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))
    )
    assert "security event api_key_rolled_with_grace" in logged
    row_text = repr([(u.path, u.ip, u.method) for u in uses] + [(n.detail, n.kind) for n in notes])
    for key in keys:
        assert key.encode() not in stored and key[3:20].encode() not in stored
        assert key not in logged and key[3:20] not in logged
        assert key[3:20] not in row_text
    showing = 0
    for response in seen:
        path = response.request.url.path
        found = set(KEY_SHAPE.findall(response.text)) | set(
            KEY_SHAPE.findall(str(response.headers))
        )
        typed = {k for k in found if k.encode() in response.request.content}
        if typed:
            # A form that comes back with its mistakes shows what was typed into it (a
            # key pasted into the allow-list): to the same user, stored nowhere.
            assert response.status_code == 422 and found == typed, path
        elif found:
            showing += 1
            assert response.request.method == "POST" and SHOWS_A_KEY.match(path), path
            assert response.status_code in (200, 201), path
            assert len(found) == 1  # only the key it is about
        else:
            assert not any(k[3:20] in response.text for k in keys), path
        # Whatever the response, nothing may keep a copy of it.
        assert response.headers["cache-control"] == "no-store", path
    assert showing >= 6


@pytest.mark.sqlite_only
def test_a_live_server_at_debug_level_logs_no_bot_key(tmp_path):
    env = {"AUTOTRADER_LOG_LEVEL": "debug", "AUTOTRADER_COOKIE_SECURE": "false"}
    with running_server(tmp_path, **env) as base:
        default = register_and_get_key(base, "alice", PASSWORD)
        bot = create_bot_key(base, "alice", PASSWORD, "vps <b>bot</b>", "127.0.0.1")
        keys = [default, bot]
        with httpx.Client(timeout=30) as client:
            t = LiveTrader(client, "alice", PASSWORD)
            t.login(base)
            page = t.page(f"{base}/settings/security").text
            bot_id = re.findall(r"/settings/security/api-keys/(\d+)", page)[-1]
            one = f"{base}{NEW}/{bot_id}"
            rolled = t.hx(f"{one}/regenerate", roll_form("24h"))
            keys.append(key_in(rolled.text))
            t.hx(f"{one}/view", {"step": "verify", "password": PASSWORD})
            t.hx(f"{base}{NEW}", {"name": "n", "perm_read": "yes", "allow_ips": bot})
            t.hx(f"{base}{NEW}", {"name": bot, "perm_read": "yes"})
            for key in keys:
                assert client.get(f"{base}/api/v1/me", headers={"api-key": key}).status_code == 200
                client.get(f"{base}/api/v1/{key}", headers={"api-key": key})
                client.get(f"{base}/api/v1/me?token={key}")
                client.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {key}"})
                client.get(f"{base}/settings/security/api-keys/{key}")
            t.hx(f"{one}/expire-old", {"step": "verify", "confirm": "yes"})
            t.hx(f"{one}/delete", {"step": "verify", "confirm": "yes"})
    # Read once the server stopped: its last usage write (at shutdown) is in the log too.
    log = next(tmp_path.glob("server-*.log")).read_text()
    assert "DEBUG" in log and "api_key_rolled_with_grace" in log
    for key in keys:
        assert key not in log and key[3:20] not in log, "a key reached the server's log"


async def _call_then_delete(app, client, trader, name: str) -> None:
    """A key makes one call (queued for the usage writer), then is deleted."""
    doomed = await new_key(trader, name=name)
    row = await key_row(app, name)
    assert (await api(client, "GET", "/api/v1/trading-accounts/77", doomed)).status_code == 404
    gone = await trader.hx("POST", f"{NEW}/{row.id}/delete", {"step": "verify", "confirm": "yes"})
    assert gone.status_code == 200


async def _logged_calls(app, key_id: int) -> list[ApiKeyUse]:
    """What the usage writer writes for ``key_id``, written now."""
    await api_usage.flush(app.state.ctx)
    async with app.state.ctx.db() as db:
        return list((await db.exec(select(ApiKeyUse).where(ApiKeyUse.key_id == key_id))).all())


async def test_a_deleted_keys_last_calls_never_land_in_a_new_keys_log(app, client, trader):
    """SQLite hands a deleted row's id to the next row: calls of alice's deleted key,
    still queued for the usage writer, must not be written into bob's new key's log."""
    bob_client, bob = await second_trader(app)
    try:
        await _call_then_delete(app, client, trader, "alice's doomed bot")
        await new_key(bob, name="bob's new bot")
        bobs = await key_row(app, "bob's new bot")
        assert await _logged_calls(app, bobs.id) == [], "alice's call is in bob's usage log"
        assert (await key_row(app, "bob's new bot")).last_used_at is None
        detail = (await bob_client.get(f"{NEW}/{bobs.id}")).text
        assert "/api/v1/trading-accounts/77" not in detail
    finally:
        await bob_client.aclose()


async def test_a_deleted_keys_last_calls_never_land_in_its_owners_next_key(
    app, client, trader, clock
):
    """The same with one owner: the next key (on SQLite, with the deleted key's id) is
    newer than the queued calls, so they are not its calls."""
    await _call_then_delete(app, client, trader, "doomed bot")
    clock.advance(1)
    await new_key(trader, name="next bot")
    following = await key_row(app, "next bot")
    assert await _logged_calls(app, following.id) == [], "the deleted key's call is logged"
    assert (await key_row(app, "next bot")).last_used_at is None


async def test_a_new_key_with_a_deleted_keys_id_starts_with_a_full_burst(
    app, client, trader, clock
):
    """SQLite gives a deleted key's id to the next key: the next key must not inherit
    the deleted key's empty bucket (a 429 on its very first call)."""
    drained = await new_key(trader, name="drained bot")
    row = await key_row(app, "drained bot")
    statuses = [(await api(client, "GET", "/api/v1/me", drained)).status_code for _ in range(21)]
    assert statuses[-1] == 429
    gone = await trader.hx("POST", f"{NEW}/{row.id}/delete", {"step": "verify", "confirm": "yes"})
    assert gone.status_code == 200
    clock.advance(0.001)  # far too little to refill a token
    fresh = await new_key(trader, name="fresh bot")
    assert (await api(client, "GET", "/api/v1/me", fresh)).status_code == 200


async def test_no_other_step_up_opens_the_window_with_the_password_alone(
    app, client, trader, clock
):
    """Every route that checks a password for the policy, tried with the password and
    no (or a wrong) code: none leaves a proof that lets a bot-key action through."""
    await enrol(trader, clock)
    await change_2fa(trader, clock, "credentials-on")
    clock.advance(301)
    before = key_state(await key_rows(app))
    proofs_before = session_payload(client).get("proof", {})
    attempts = [
        ("/settings/security/2fa/credentials-off", {"password": PASSWORD, "code": ""}),
        ("/settings/security/2fa/login-on", {"password": PASSWORD, "code": "123456"}),
        ("/settings/security/2fa/recovery", {"password": PASSWORD}),
        ("/settings/security/2fa/confirm", {"password": PASSWORD, "code": "123456"}),
        ("/settings/security/email", {"password": PASSWORD, "email": "x@example.com"}),
        ("/settings/security/unlock", {"password": PASSWORD}),
        ("/settings/security/password", {"password": PASSWORD, "new_password": "n" * 20}),
        ("/settings/security/passkeys/options", {"password": PASSWORD, "name": "evil"}),
        (f"{LEGACY}/view", {"password": PASSWORD}),
    ]
    for path, data in attempts:
        response = await trader.hx("POST", path, {"step": "verify", **data})
        assert response.status_code != 500 and not KEY_SHAPE.search(response.text), path
        # Straight after: a new bot key with the password (no code) must still ask.
        made = await create_key(trader, f"after {path}")
        assert made.status_code != 201 and 'id="stepup-dialog"' in made.text, path
    proofs = session_payload(client).get("proof", {})
    assert proofs.get("second") == proofs_before.get("second")
    assert key_state(await key_rows(app)) == before
