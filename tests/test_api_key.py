"""API key View / Re-generate behind a step-up, the window, the reveal, the API."""

import pytest

from tests.helpers import PASSWORD, Trader, key_in, session_payload
from webapp import api_usage, apikey
from webapp.models import ApiKey, SecurityEvent


async def api_me(client, key, how="header"):
    headers = {"api-key": key} if how == "header" else {"Authorization": f"Bearer {key}"}
    return await client.get("/api/v1/me", headers=headers)


async def test_view_without_window_opens_the_modal(trader):
    response = await trader.hx("POST", "/settings/security/api-key/view", {})
    assert response.status_code == 200
    assert "<dialog" in response.text and 'name="password"' in response.text
    assert response.headers["HX-Retarget"] == "#modal-root"
    assert "at_" not in response.text.replace("at_•", "")


async def test_wrong_password_reveals_nothing(trader):
    response = await trader.view_key(password="not my password")
    assert response.status_code == 422
    assert "That password is not correct" in response.text
    assert "<dialog" in response.text
    with pytest.raises(AssertionError):
        key_in(response.text)
    assert "proof" not in session_payload(trader.client)


async def test_right_password_reveals_key_that_works(client, trader, settings):
    response = await trader.view_key()
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["HX-Trigger"] == "stepup-done"
    key = key_in(response.text)
    assert f'hx-trigger="load delay:{settings.reveal_seconds}s"' in response.text
    assert "Copy" in response.text and "Hide" in response.text
    me = await api_me(client, key)
    assert me.json() == {
        "status": "ok",
        "result": {
            "username": "alice",
            "twoFactor": {"enrolled": False, "login": False, "credentials": False},
            "key": {
                "name": "Default key",
                "permissions": ["read", "manage-accounts"],
                "expiresAt": None,
            },
        },
    }


async def test_window_lets_view_reveal_without_asking(trader, clock, settings):
    await trader.reveal_key()
    clock.advance(settings.stepup_seconds - 5)
    again = await trader.hx("POST", "/settings/security/api-key/view", {})
    assert key_in(again.text) == trader.api_key
    clock.advance(10)
    expired = await trader.hx("POST", "/settings/security/api-key/view", {})
    assert "<dialog" in expired.text and 'name="password"' in expired.text


async def test_masked_box_shows_prefix_dots_last_four(client, trader):
    key = await trader.reveal_key()
    masked = await trader.hx("GET", "/settings/security/api-key/masked")
    assert apikey.masked(key[-4:]) in masked.text
    assert key not in masked.text
    page = await client.get("/settings/security")
    assert key not in page.text and apikey.masked(key[-4:]) in page.text


async def test_wrong_step_up_passwords_count_toward_the_throttle(client, trader):
    for _ in range(4):
        assert (await trader.view_key(password="wrong wrong wrong")).status_code == 422
    locked = await trader.view_key(password="wrong wrong wrong")
    assert locked.status_code == 429 and "Try again" in locked.text
    still = await trader.view_key()  # right password during the lock
    assert still.status_code == 429
    await trader.logout()
    assert (await trader.login()).status_code == 429  # the same per-account lock


async def test_regenerate_asks_confirmation_and_kills_old_key(client, trader, app):
    old = await trader.reveal_key()
    form = await trader.hx("GET", "/settings/security/api-key/regenerate")
    assert 'name="confirm"' in form.text
    assert 'name="password"' not in form.text  # the window from View is fresh
    unconfirmed = await trader.hx(
        "POST", "/settings/security/api-key/regenerate", {"step": "verify"}
    )
    assert unconfirmed.status_code == 422 and "Tick the box" in unconfirmed.text
    assert (await api_me(client, old)).status_code == 200
    response = await trader.hx(
        "POST", "/settings/security/api-key/regenerate", {"step": "verify", "confirm": "yes"}
    )
    assert response.status_code == 200
    new = key_in(response.text)
    assert new != old and "old key no longer works" in response.text
    assert (await api_me(client, old)).status_code == 401
    assert (await api_me(client, new)).status_code == 200


async def test_regenerate_without_window_needs_password(client, trader):
    form = await trader.hx("GET", "/settings/security/api-key/regenerate")
    assert 'name="password"' in form.text and 'name="confirm"' in form.text
    data = {"step": "verify", "confirm": "yes", "password": "wrong password!"}
    wrong = await trader.hx("POST", "/settings/security/api-key/regenerate", data)
    assert wrong.status_code == 422
    data["password"] = PASSWORD
    right = await trader.hx("POST", "/settings/security/api-key/regenerate", data)
    assert right.status_code == 200 and key_in(right.text)


async def test_view_and_regenerate_are_recorded(app, trader):
    from sqlmodel import select

    await trader.reveal_key()
    await trader.hx(
        "POST", "/settings/security/api-key/regenerate", {"step": "verify", "confirm": "yes"}
    )
    async with app.state.ctx.db() as db:
        kinds = [e.kind for e in (await db.exec(select(SecurityEvent))).all()]
    assert "api_key_viewed" in kinds and "api_key_regenerated" in kinds


# ---- API authentication ----


async def test_api_header_and_bearer(client, trader):
    key = await trader.reveal_key()
    assert (await api_me(client, key)).status_code == 200
    assert (await api_me(client, key, how="bearer")).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"api-key": ""}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}],
)
async def test_api_missing_key_is_401(client, headers):
    response = await client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["status"] == "error"
    assert "Bearer" in response.headers["www-authenticate"]


async def test_api_wrong_key_is_401(client, trader):
    response = await api_me(client, apikey.generate())
    assert response.status_code == 401
    assert response.json()["message"].startswith("Invalid API key.")


async def test_mistyped_key_is_refused_without_a_query(app, client, trader, monkeypatch):
    key = await trader.reveal_key()
    typo = key[:10] + ("a" if key[10] != "a" else "b") + key[11:]
    lookup = app.state.ctx.api_lookup
    calls = []
    real_find = lookup.find

    async def counted(digests):
        calls.append(digests)
        return await real_find(digests)

    monkeypatch.setattr(lookup, "find", counted)
    statements: list[str] = []
    traced = lookup.trace_statements(statements.append)  # SQLite: watch the statements too
    try:
        response = await api_me(client, typo)
        assert response.status_code == 401
        assert calls == [] and statements == []
        await api_me(client, key)
        assert len(calls) == 1  # one look-up (by digest) per call
        if traced:
            selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
            assert len(selects) == 1 and "digest" in selects[0].lower()
    finally:
        lookup.trace_statements(None)


@pytest.mark.parametrize("name", ["api-key", "api_key", "apikey", "key", "token"])
async def test_api_key_in_query_string_is_400(client, trader, name):
    key = await trader.reveal_key()
    response = await client.get(f"/api/v1/me?{name}={key}")
    assert response.status_code == 400
    assert "header" in response.json()["message"]


async def test_last_used_is_written_off_the_request_path(app, client, trader, clock):
    """An API call only queues its use; the batch write (api_usage.flush) records the
    newest time and address, so the API itself never waits for a write."""
    key = await trader.reveal_key()

    async def last_used():
        async with app.state.ctx.db() as db:
            row = await db.get(ApiKey, 1)
            return row.last_used_at, row.last_used_ip

    assert await last_used() == (None, "")
    await api_me(client, key)
    first = clock.now
    clock.advance(30)
    await api_me(client, key)
    assert await last_used() == (None, "")  # queued, not yet written
    assert await api_usage.flush(app.state.ctx) == 2
    assert await last_used() == (clock.now, "203.0.113.7")
    assert first < clock.now


async def test_unknown_api_path_is_json_404(client):
    response = await client.get("/api/v1/nothing")
    assert response.status_code == 404 and response.json()["status"] == "error"


async def test_other_users_key_gives_other_user(client, app, trader):
    from tests.helpers import make_client

    alice_key = await trader.reveal_key()
    async with make_client(app) as other:
        bob = Trader(other, username="bob")
        await bob.register()
        bob_key = await bob.reveal_key()
    assert (await api_me(client, alice_key)).json()["result"]["username"] == "alice"
    assert (await api_me(client, bob_key)).json()["result"]["username"] == "bob"
