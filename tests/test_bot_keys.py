"""API keys for trading bots: named keys with permissions, allow-lists, expiry, a grace
period on Re-generate, a per-key rate limit, a usage log, and no extra query per call."""

from __future__ import annotations

import dataclasses
import logging

import httpx
import pytest
from sqlmodel import select

from tests.bot_keys import ACCOUNT, NEW, create_key, events, key_row, new_key
from tests.helpers import (
    PASSWORD,
    api,
    fast_passwords,
    key_in,
    registered,
)
from webapp import api_usage, key_rules
from webapp.app import create_app
from webapp.config import Settings
from webapp.models import ApiKey, ApiKeyUse
from webapp.rotation import rotate


async def test_a_new_key_is_shown_once_and_describes_itself(app, client, trader):
    response = await create_key(trader, "VPS bot", read=True, manage=False)
    assert response.status_code == 201 and response.headers["HX-Trigger"] == "stepup-done"
    key = key_in(response.text)
    assert "shown in full only once" in response.text
    me = await api(client, "GET", "/api/v1/me", key)
    assert me.json()["result"]["key"] == {
        "name": "VPS bot",
        "permissions": ["read"],
        "expiresAt": None,
    }
    page = (await client.get("/settings/security")).text
    assert "VPS bot" in page and key not in page  # the list shows the hint, never the key
    assert "testserver" not in page  # links are paths: nothing from the Host header
    assert key[-4:] in page
    row = await key_row(app, "VPS bot")
    assert [e.detail for e in await events(app, "api_key_created")] == ["VPS bot (read)"]
    # View shows it again, after the step-up, like the default key.
    shown = await trader.hx(
        "POST", f"{NEW}/{row.id}/view", {"step": "verify", "password": PASSWORD}
    )
    assert shown.status_code == 200 and key_in(shown.text) == key


async def test_each_permission_is_refused_and_allowed_through_the_api(client, trader):
    reader = await new_key(trader, name="reader", read=True, manage=False)
    manager = await new_key(trader, name="manager", read=False, manage=True)

    made = await api(client, "POST", "/api/v1/trading-accounts", manager, ACCOUNT)
    assert made.status_code == 201, made.text
    account = made.json()["result"]["id"]
    one = f"/api/v1/trading-accounts/{account}"

    # read: every GET; nothing that changes an account.
    assert (await api(client, "GET", "/api/v1/trading-accounts", reader)).status_code == 200
    assert (await api(client, "GET", one, reader)).status_code == 200
    for method, path, body in [
        ("POST", "/api/v1/trading-accounts", ACCOUNT),
        ("PATCH", one, {"pseudoAccName": "Renamed"}),
        ("DELETE", one, None),
    ]:
        refused = await api(client, method, path, reader, body)
        assert refused.status_code == 403
        assert refused.json() == {
            "status": "error",
            "message": "This API key lacks the 'manage-accounts' permission. Use a key that "
            "has it, or create one under Settings → Security.",
        }
    # manage-accounts without read: changes, but no GET.
    for path in ("/api/v1/trading-accounts", one):
        refused = await api(client, "GET", path, manager)
        assert refused.status_code == 403 and "'read' permission" in refused.json()["message"]
    assert (await api(client, "PATCH", one, manager, {"pseudoAccName": "New"})).status_code == 200
    assert (await api(client, "DELETE", one, manager)).status_code == 200
    # /me describes the calling key, whatever its permissions.
    assert (await api(client, "GET", "/api/v1/me", manager)).status_code == 200


async def test_the_default_key_keeps_both_permissions(client, trader):
    key = await trader.reveal_key()
    me = (await api(client, "GET", "/api/v1/me", key)).json()["result"]["key"]
    assert me == {
        "name": "Default key",
        "permissions": ["read", "manage-accounts"],
        "expiresAt": None,
    }
    assert (await api(client, "POST", "/api/v1/trading-accounts", key, ACCOUNT)).status_code == 201
    assert (await api(client, "GET", "/api/v1/trading-accounts", key)).status_code == 200


async def test_allow_list_refuses_other_addresses_and_records_it_once_a_minute(
    app, client, trader, clock
):
    # The test client comes from 203.0.113.7.
    inside = await new_key(trader, name="inside", allow="203.0.113.0/24\n2001:db8::/32")
    outside = await new_key(trader, name="outside", allow="198.51.100.7")
    assert (await api(client, "GET", "/api/v1/me", inside)).status_code == 200
    for _ in range(3):
        refused = await api(client, "GET", "/api/v1/me", outside)
        assert refused.status_code == 403
        assert "may not be used from your address (203.0.113.7)" in refused.json()["message"]
    await api_usage.flush(app.state.ctx)
    recorded = await events(app, "api_key_address_refused")
    assert [(e.detail, e.ip) for e in recorded] == [("outside from 203.0.113.7", "203.0.113.7")]
    clock.advance(61)
    assert (await api(client, "GET", "/api/v1/me", outside)).status_code == 403
    await api_usage.flush(app.state.ctx)
    assert len(await events(app, "api_key_address_refused")) == 2
    activity = (await client.get("/settings/security")).text
    assert "API key used from a disallowed address" in activity


async def test_allow_list_takes_ipv6_and_mapped_ipv4(app, trader):
    key = await new_key(trader, name="v6", allow="2001:db8::/32, 192.0.2.1")
    for address, status in [("2001:db8::5", 200), ("2001:db9::5", 403), ("::ffff:192.0.2.1", 200)]:
        transport = httpx.ASGITransport(app=app, client=(address, 1))
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
            assert (await api(c, "GET", "/api/v1/me", key)).status_code == status, address


@pytest.mark.parametrize("trusted", [True, False])
async def test_allow_list_reads_the_address_a_trusted_proxy_forwards(settings, clock, trusted):
    proxy = "203.0.113.7"  # the test client's own address plays the proxy
    listed = dataclasses.replace(settings, trusted_proxies=proxy if trusted else "")
    async with registered(listed, clock, usage_writer=False) as (_app, client, trader):
        key = await new_key(trader, name="behind proxy", allow="198.51.100.0/24")
        headers = {"api-key": key, "X-Forwarded-For": "198.51.100.9"}
        response = await client.get("/api/v1/me", headers=headers)
        # Trusted: the forwarded client is allowed. Untrusted: the header is ignored and
        # the proxy's own address is not on the list.
        assert response.status_code == (200 if trusted else 403)
        elsewhere = await client.get(
            "/api/v1/me", headers={"api-key": key, "X-Forwarded-For": "192.0.2.50"}
        )
        assert elsewhere.status_code == 403


async def test_expired_key_is_refused_with_its_date_and_warned_a_week_ahead(client, trader, clock):
    # The clock starts at 2027-01-15 08:00 UTC.
    key = await new_key(trader, name="temporary", expires="2027-01-20")
    me = await api(client, "GET", "/api/v1/me", key)
    assert me.json()["result"]["key"]["expiresAt"] == "2027-01-20T00:00:00+00:00"
    page = (await client.get("/settings/security")).text
    assert "Expires in 4 d 16 h" in page
    clock.advance(4 * 86400 + 16 * 3600 - 1)
    assert (await api(client, "GET", "/api/v1/me", key)).status_code == 200
    clock.advance(1)
    expired = await api(client, "GET", "/api/v1/me", key)
    assert expired.status_code == 401
    assert expired.json()["message"] == "This API key expired on 2027-01-20."
    await trader.login()  # days passed: the browser session ended meanwhile
    assert '<span class="pill off">expired</span>' in (await client.get("/settings/security")).text


async def test_roll_with_grace_keeps_both_keys_until_it_ends(app, client, trader, clock):
    old = await trader.reveal_key()
    rolled = await trader.hx(
        "POST",
        "/settings/security/api-key/regenerate",
        {"step": "verify", "confirm": "yes", "grace": "1h", "password": PASSWORD},
    )
    assert rolled.status_code == 200 and "old key keeps working" in rolled.text
    new = key_in(rolled.text)
    assert new != old
    for key in (old, new):
        assert (await api(client, "GET", "/api/v1/trading-accounts", key)).status_code == 200
    me_old = (await api(client, "GET", "/api/v1/me", old)).json()["result"]["key"]
    assert me_old["expiresAt"] == "2027-01-15T09:00:00+00:00"
    page = (await client.get("/settings/security")).text
    assert "still works for <strong>1 h</strong>" in page and "Expire now" in page
    [started] = await events(app, "api_key_rolled_with_grace")
    assert "the old key works until 2027-01-15 09:00 UTC" in started.detail

    clock.advance(3600)
    assert (await api(client, "GET", "/api/v1/me", old)).status_code == 401
    assert (await api(client, "GET", "/api/v1/me", new)).status_code == 200
    # The end is recorded when the writer's sweep notices it (within a minute).
    assert await api_usage.end_grace_periods(app.state.ctx) == 1
    [ended] = await events(app, "api_key_previous_expired")
    assert ended.detail == "Default key: the old key stopped at 2027-01-15 09:00 UTC"
    assert await api_usage.end_grace_periods(app.state.ctx) == 0
    assert "still works for" not in (await client.get("/settings/security")).text


async def test_expire_now_ends_the_grace_period_at_once(app, client, trader, clock):
    old = await new_key(trader, name="bot")
    row = await key_row(app, "bot")
    rolled = await trader.hx(
        "POST",
        f"{NEW}/{row.id}/regenerate",
        {"step": "verify", "confirm": "yes", "grace": "7d", "password": PASSWORD},
    )
    new = key_in(rolled.text)
    assert (await api(client, "GET", "/api/v1/me", old)).status_code == 200
    detail = (await client.get(f"{NEW}/{row.id}")).text
    assert "still works for <strong>7 d</strong>" in detail
    asked = await trader.hx("POST", f"{NEW}/{row.id}/expire-old", {})
    assert 'id="stepup-dialog"' in asked.text  # asks to confirm first
    done = await trader.hx(
        "POST", f"{NEW}/{row.id}/expire-old", {"step": "verify", "confirm": "yes"}
    )
    assert done.status_code == 200 and "still works" not in done.text
    assert (await api(client, "GET", "/api/v1/me", old)).status_code == 401
    assert (await api(client, "GET", "/api/v1/me", new)).status_code == 200
    [ended] = await events(app, "api_key_previous_expired")
    assert ended.detail == "key “bot”: expired now"


async def test_rate_limit_answers_429_with_retry_after(client, trader, clock):
    key = await trader.reveal_key()
    statuses = [(await api(client, "GET", "/api/v1/me", key)).status_code for _ in range(21)]
    assert statuses == [200] * 20 + [429]  # the burst, with the frozen clock not moving
    limited = await api(client, "GET", "/api/v1/me", key)
    assert limited.headers["Retry-After"] == "1"
    assert limited.json() == {
        "status": "error",
        "message": "Too many calls with this API key: at most 10 a second. Retry after 1 s.",
    }
    other = await new_key(trader, name="other")  # each key has its own bucket
    assert (await api(client, "GET", "/api/v1/me", other)).status_code == 200
    clock.advance(0.5)  # 10 a second: five tokens back
    statuses = [(await api(client, "GET", "/api/v1/me", key)).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


async def test_usage_log_keeps_the_last_100_calls_without_query_or_key(app, client, trader, clock):
    key = await new_key(trader, name="logger", read=True)
    row = await key_row(app, "logger")
    for i in range(103):
        clock.advance(0.2)  # stays under the rate limit
        response = await client.get(
            f"/api/v1/trading-accounts/{i}?page=2", headers={"api-key": key}
        )
        assert response.status_code == 404
    await client.post("/api/v1/trading-accounts", json=ACCOUNT, headers={"api-key": key})
    await api_usage.flush(app.state.ctx)
    async with app.state.ctx.db() as db:
        uses = (await db.exec(select(ApiKeyUse).where(ApiKeyUse.key_id == row.id))).all()
    assert len(uses) == 100
    newest = max(uses, key=lambda u: u.id)
    assert (newest.method, newest.path, newest.status, newest.ip) == (
        "POST",
        "/api/v1/trading-accounts",
        403,
        "203.0.113.7",
    )
    assert {u.path for u in uses if u.method == "GET"} >= {"/api/v1/trading-accounts/102"}
    assert "/api/v1/trading-accounts/2" not in {u.path for u in uses}  # the oldest went
    detail = (await client.get(f"{NEW}/{row.id}")).text
    assert (
        "The newest 100 of at most 100 calls" in detail
        and "GET /api/v1/trading-accounts/102" in detail
    )
    assert "page=2" not in detail
    refreshed = await key_row(app, "logger")
    assert (refreshed.last_used_at, refreshed.last_used_ip) == (clock.now, "203.0.113.7")


async def test_the_api_check_is_still_one_query(app, client, trader):
    key = await new_key(trader, name="counted", allow="203.0.113.0/24", expires="2030-01-01")
    assert (await api(client, "GET", "/api/v1/me", key)).status_code == 200
    lookup = app.state.ctx.api_lookup
    statements: list[str] = []
    if not lookup.trace_statements(statements.append):
        pytest.skip("the statement trace is SQLite's")
    try:
        for path in ("/api/v1/me", "/api/v1/trading-accounts"):
            assert (await api(client, "GET", path, key)).status_code == 200
    finally:
        lookup.trace_statements(None)
    # At most one look-up per call on the key connection (the account list has its own
    # session; a cached owner needs none), beside the cheap data_version check.
    lookups = [s for s in statements if not s.startswith("PRAGMA")]
    assert len(lookups) <= 2 and all("api_keys.prev_digest" in s for s in lookups)
    assert sum(s.startswith("PRAGMA data_version") for s in statements) == 2


async def test_deleting_a_key_stops_it_at_once(app, client, trader):
    key = await new_key(trader, name="gone soon")
    row = await key_row(app, "gone soon")
    form = await trader.hx("GET", f"{NEW}/{row.id}/delete")
    assert "Delete API key" in form.text
    deleted = await trader.hx(
        "POST", f"{NEW}/{row.id}/delete", {"step": "verify", "confirm": "yes"}
    )
    assert (
        deleted.status_code == 200
        and deleted.headers["HX-Redirect"] == "/settings/security#named-keys"
    )
    assert (await api(client, "GET", "/api/v1/me", key)).status_code == 401
    assert [e.detail for e in await events(app, "api_key_deleted")] == ["gone soon"]
    default = await key_row(app, "Default key")
    refused = await trader.hx(
        "POST", f"{NEW}/{default.id}/delete", {"step": "verify", "confirm": "yes"}
    )
    assert refused.status_code == 409 and "cannot be deleted" in refused.text


async def test_at_most_20_keys(app, trader):
    for i in range(key_rules.MAX_KEYS - 1):
        await new_key(trader, name=f"bot {i}")
    page = (await trader.client.get("/settings/security")).text
    assert "the most an account can hold" in page and ">New key<" not in page
    refused = await create_key(trader, "one too many")
    assert refused.status_code == 409 and "You have 20 API keys" in refused.text
    async with app.state.ctx.db() as db:
        assert len((await db.exec(select(ApiKey))).all()) == key_rules.MAX_KEYS


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "   ", "Give the key a name"),
        ("name", "x" * 65, "at most 64 characters"),
        ("allow", "10.0.0.0/33", "is not an IP address or range"),
        ("allow", "evil.example.com", "is not an IP address or range"),
        ("allow", "\n".join(f"10.0.0.{i}" for i in range(51)), "at most 50"),
        ("expires", "2027-01-15", "after today"),
        ("expires", "15/01/2028", "YYYY-MM-DD"),
        ("read", False, "Tick at least one permission"),
    ],
)
async def test_bad_new_key_input_is_422_and_creates_nothing(app, trader, field, value, message):
    kwargs = {field: value} if field != "read" else {"read": False}
    response = await create_key(trader, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 422 and message in response.text
    assert 'id="stepup-dialog"' not in response.text  # no password asked for a bad form
    async with app.state.ctx.db() as db:
        assert len((await db.exec(select(ApiKey))).all()) == 1


async def test_change_limits_restricts_a_key(app, client, trader):
    key = await new_key(trader, name="wide", read=True, manage=True)
    row = await key_row(app, "wide")
    assert (await api(client, "POST", "/api/v1/trading-accounts", key, ACCOUNT)).status_code == 201
    changed = await trader.hx(
        "POST",
        f"{NEW}/{row.id}/limits",
        {"step": "verify", "name": "narrow", "perm_read": "yes", "allow_ips": "198.51.100.1"},
    )
    assert changed.status_code == 200 and "Saved." in changed.text
    assert (await api(client, "GET", "/api/v1/me", key)).status_code == 403  # address
    assert [e.detail for e in await events(app, "api_key_changed")] == ["narrow (read)"]


async def test_no_key_in_plain_text_in_the_database_or_the_logs(
    app, client, trader, clock, stored_bytes, caplog
):
    caplog.set_level(logging.DEBUG, logger="webapp")
    keys = [await trader.reveal_key(), await new_key(trader, name="bot", allow="203.0.113.7")]
    rolled = await trader.hx(
        "POST",
        "/settings/security/api-key/regenerate",
        {"step": "verify", "confirm": "yes", "grace": "24h", "password": PASSWORD},
    )
    keys.append(key_in(rolled.text))
    for key in keys:
        await api(client, "GET", f"/api/v1/me?x={key[:10]}", key)
        await client.get(f"/api/v1/trading-accounts/{key}", headers={"api-key": key})
    await api_usage.flush(app.state.ctx)
    stored = await stored_bytes()
    logged = caplog.text
    for key in keys:
        assert key.encode() not in stored and key not in logged
        assert key[3:20].encode() not in stored  # not even a long piece of it


async def test_the_writer_task_flushes_what_is_queued_at_shutdown(settings, clock):
    """With the background writer on (as in production), nothing queued is lost when the
    app stops: the run is shorter than the writer's second, so the shutdown flush is
    what usually writes these (the periodic write would do as well)."""
    async with registered(settings, clock) as (_app, client, trader):
        key = await trader.reveal_key()
        for _ in range(3):
            assert (await api(client, "GET", "/api/v1/me", key)).status_code == 200
    again = create_app(settings, clock=clock, passwords=fast_passwords(), usage_writer=False)
    async with again.router.lifespan_context(again), again.state.ctx.db() as db:
        uses = (await db.exec(select(ApiKeyUse))).all()
    assert [(u.method, u.path, u.status) for u in uses] == [("GET", "/api/v1/me", 200)] * 3


async def test_key_rotation_moves_every_key_and_the_old_secret_in_its_grace_period(
    tmp_path, database_url, clock
):
    # Key-file mode (no AUTOTRADER_MASTER_KEYS), as rotation works on the file.
    settings = Settings(data_dir=tmp_path / "keyfile", database_url=database_url)
    async with registered(settings, clock, usage_writer=False) as (_app, client, trader):
        old = await trader.reveal_key()
        rolled = await trader.hx(
            "POST",
            "/settings/security/api-key/regenerate",
            {"step": "verify", "confirm": "yes", "grace": "24h", "password": PASSWORD},
        )
        new = key_in(rolled.text)
        bot = await new_key(trader, name="bot")
        first = await rotate(settings)
        assert first.counts["api_keys.prev_secret"] == 1 and first.counts["api_keys.secret"] == 2
        removed = await rotate(settings, remove_unused=True)
        assert removed.removed_keys == {"k1"}
        for key in (old, new, bot):  # digests re-made under the new master key
            assert (await api(client, "GET", "/api/v1/me", key)).status_code == 200
