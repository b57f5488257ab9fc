"""Trading accounts: CRUD by pages and API, step-ups, ownership, at rest, bad input."""

import pytest
from sqlmodel import select

from tests.helpers import (
    CREDS,
    NEW,
    PASSWORD,
    Trader,
    add,
    api,
    change_2fa,
    enrol,
    make_client,
    snapshot,
)
from webapp.models import SecurityEvent, TradingAccount


async def warm_key(trader: Trader, client) -> str:
    """The API key, used once so its last-used time is already recorded."""
    key = await trader.reveal_key()
    await client.get("/api/v1/me", headers={"api-key": key})
    return key


async def rows(app):
    async with app.state.ctx.db() as db:
        return list((await db.exec(select(TradingAccount))).all())


# ---- pages ----


async def test_add_and_list_without_credentials(app, client, trader):
    account_id = await add(trader)
    page = await client.get("/trading-accounts")
    assert "Main" in page.text and "Upstox" in page.text and "AB1234" in page.text
    for value in CREDS.values():
        assert value not in page.text
    card = await trader.hx("GET", f"/trading-accounts/{account_id}")
    assert all(v not in card.text for v in CREDS.values())


async def test_new_form_error_keeps_public_fields_but_not_secrets(app, trader):
    await trader.page("/trading-accounts/new")
    response = await trader.form(
        "/trading-accounts", {**NEW, **CREDS, "totpKey": "not base32!", "loginId": "AB 12"}
    )
    assert response.status_code == 422
    assert "valid base32" in response.text and "Login id: 1 to 64" in response.text
    assert 'value="Main"' in response.text
    assert CREDS["password"] not in response.text and CREDS["apiSecret"] not in response.text
    assert await rows(app) == []


async def test_required_credentials_come_from_the_broker_table(app, trader):
    await trader.page("/trading-accounts/new")
    data = {**NEW, "broker": "angelone", "platform": "", "pin": "1234", "totpKey": CREDS["totpKey"]}
    response = await trader.form("/trading-accounts", data)
    assert (
        response.status_code == 422 and "API (app) key is required for Angel One" in response.text
    )
    data["apiKey"] = "abc"
    assert (await trader.form("/trading-accounts", data)).status_code == 303
    assert (await rows(app))[0].platform == "SmartAPI"


async def test_view_needs_a_step_up_and_reveals_for_a_moment(app, trader, settings):
    account_id = await add(trader)
    modal = await trader.hx("POST", f"/trading-accounts/{account_id}/view")
    assert "<dialog" in modal.text and CREDS["password"] not in modal.text
    wrong = await trader.hx(
        "POST", f"/trading-accounts/{account_id}/view", {"step": "verify", "password": "nope nope"}
    )
    assert wrong.status_code == 422 and CREDS["password"] not in wrong.text
    shown = await trader.hx(
        "POST", f"/trading-accounts/{account_id}/view", {"step": "verify", "password": PASSWORD}
    )
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    for value in CREDS.values():
        assert value in shown.text
    assert f'hx-trigger="load delay:{settings.reveal_seconds}s"' in shown.text
    masked = await trader.hx("GET", f"/trading-accounts/{account_id}/masked")
    assert all(v not in masked.text for v in CREDS.values())


async def test_edit_keeps_blank_secrets_and_never_sends_them_back(app, client, trader):
    account_id = await add(trader)
    form = await trader.hx("POST", f"/trading-accounts/{account_id}/edit")
    assert "<dialog" in form.text  # step-up first
    form = await trader.hx(
        "POST", f"/trading-accounts/{account_id}/edit", {"step": "verify", "password": PASSWORD}
    )
    assert f'id="acct-{account_id}-form"' in form.text
    for value in CREDS.values():
        assert value not in form.text
    data = {**NEW, "loginId": "AB9999", **dict.fromkeys(CREDS, "")}
    data["pin"] = "111222"
    saved = await trader.hx("POST", f"/trading-accounts/{account_id}", data)
    assert saved.status_code == 200 and "AB9999" in saved.text
    view = await trader.hx("POST", f"/trading-accounts/{account_id}/view")
    assert "111222" in view.text and CREDS["password"] in view.text and CREDS["apiKey"] in view.text


async def test_save_with_expired_window_asks_again_and_includes_the_form(trader, clock, settings):
    account_id = await add(trader)
    await trader.hx(
        "POST", f"/trading-accounts/{account_id}/edit", {"step": "verify", "password": PASSWORD}
    )
    clock.advance(settings.stepup_seconds + 1)
    data = {**NEW, "loginId": "ZZ1", **dict.fromkeys(CREDS, "")}
    blocked = await trader.hx("POST", f"/trading-accounts/{account_id}", data)
    assert "<dialog" in blocked.text and f'hx-include="#acct-{account_id}-form"' in blocked.text
    # The dialog's own fields are prefixed: the edit form has a broker "password" too.
    assert 'name="stepup_password"' in blocked.text
    done = await trader.hx(
        "POST",
        f"/trading-accounts/{account_id}",
        {**data, "step": "verify", "stepup_password": PASSWORD},
    )
    assert done.status_code == 200 and "ZZ1" in done.text
    # The blank broker password kept its value; the login password was never stored.
    shown = await trader.hx(
        "POST", f"/trading-accounts/{account_id}/view", {"step": "verify", "password": PASSWORD}
    )
    assert CREDS["password"] in shown.text and PASSWORD not in shown.text


async def test_save_never_takes_the_login_password_for_the_broker_one(trader, clock, settings):
    """A lapsed window and only the login password in "password": refused, nothing saved."""
    account_id = await add(trader)
    clock.advance(settings.stepup_seconds + 1)
    data = {**NEW, "loginId": "ZZ2", **dict.fromkeys(CREDS, ""), "password": PASSWORD}
    refused = await trader.hx("POST", f"/trading-accounts/{account_id}", {**data, "step": "verify"})
    assert refused.status_code == 422 and "ZZ2" not in refused.text
    shown = await trader.hx(
        "POST", f"/trading-accounts/{account_id}/view", {"step": "verify", "password": PASSWORD}
    )
    assert CREDS["password"] in shown.text and PASSWORD not in shown.text


async def test_edit_validation_errors(app, trader):
    account_id = await add(trader)
    await add(trader, pseudoAccName="Second")
    await trader.hx(
        "POST", f"/trading-accounts/{account_id}/edit", {"step": "verify", "password": PASSWORD}
    )
    taken = await trader.hx(
        "POST", f"/trading-accounts/{account_id}", {**NEW, "pseudoAccName": "second"}
    )
    assert taken.status_code == 422 and "already have an account with this nickname" in taken.text
    bad = await trader.hx("POST", f"/trading-accounts/{account_id}", {**NEW, "totpKey": "1!"})
    assert bad.status_code == 422 and "valid base32" in bad.text
    assert [r.pseudo_acc_name for r in await rows(app)] == ["Main", "Second"]


async def test_delete_needs_step_up_and_confirmation(app, trader):
    account_id = await add(trader)
    form = await trader.hx("GET", f"/trading-accounts/{account_id}/delete")
    assert 'name="confirm"' in form.text and 'name="password"' in form.text
    unconfirmed = await trader.hx(
        "POST", f"/trading-accounts/{account_id}/delete", {"step": "verify", "password": PASSWORD}
    )
    assert unconfirmed.status_code == 422 and len(await rows(app)) == 1
    gone = await trader.hx(
        "POST",
        f"/trading-accounts/{account_id}/delete",
        {"step": "verify", "password": PASSWORD, "confirm": "yes"},
    )
    assert gone.status_code == 200 and "Deleted “Main”" in gone.text  # a notice, not a blank
    assert await rows(app) == []


async def test_view_edit_delete_are_recorded_without_values(app, trader):
    account_id = await add(trader)
    await trader.hx(
        "POST", f"/trading-accounts/{account_id}/view", {"step": "verify", "password": PASSWORD}
    )
    await trader.hx("POST", f"/trading-accounts/{account_id}", {**NEW, "pin": "999000"})
    await trader.hx(
        "POST", f"/trading-accounts/{account_id}/delete", {"step": "verify", "confirm": "yes"}
    )
    async with app.state.ctx.db() as db:
        events = (await db.exec(select(SecurityEvent))).all()
    kinds = [e.kind for e in events]
    for kind in ["account_added", "credentials_viewed", "credentials_edited", "account_deleted"]:
        assert kind in kinds
    text = " ".join(f"{e.kind} {e.detail}" for e in events)
    assert "999000" not in text and all(v not in text for v in CREDS.values())


async def test_credentials_2fa_needs_a_code_and_refuses_a_replay(app, client, trader, clock):
    await enrol(trader, clock)
    await change_2fa(trader, clock, "credentials-on")
    account_id = await add(trader)
    client.cookies.clear()
    await trader.login()
    url = f"/trading-accounts/{account_id}/view"
    modal = await trader.hx("POST", url)
    assert 'name="code"' in modal.text
    no_code = await trader.hx("POST", url, {"step": "verify", "password": PASSWORD})
    assert no_code.status_code == 422
    clock.advance(30)
    code = trader.code(clock)
    shown = await trader.hx("POST", url, {"step": "verify", "password": PASSWORD, "code": code})
    assert shown.status_code == 200 and CREDS["apiSecret"] in shown.text
    client.cookies.clear()
    await trader.login()
    replay = await trader.hx("POST", url, {"step": "verify", "password": PASSWORD, "code": code})
    assert replay.status_code == 422 and "already used" in replay.text


# ---- API ----


async def test_api_crud(app, client, trader):
    key = await trader.reveal_key()
    created = await api(client, "POST", "/api/v1/trading-accounts", key, {**NEW, **CREDS})
    assert created.status_code == 201, created.text
    account = created.json()["result"]
    assert account["pseudoAccName"] == "Main" and account["brokerName"] == "Upstox"
    # Exactly the fields the served OpenAPI document promises, all of them.
    doc = (await client.get("/api/v1/openapi.json")).json()
    assert set(account) == set(doc["components"]["schemas"]["TradingAccount"]["required"])
    listed = await api(client, "GET", "/api/v1/trading-accounts", key)
    assert listed.json()["result"] == [account]
    for value in CREDS.values():
        assert value not in listed.text and value not in created.text
    path = f"/api/v1/trading-accounts/{account['id']}"
    patched = await api(client, "PATCH", path, key, {"loginId": "XY77", "pin": "000111"})
    assert patched.status_code == 200 and patched.json()["result"]["loginId"] == "XY77"
    async with app.state.ctx.db() as db:
        from webapp.repositories import trading_accounts as repo

        row = await repo.get_owned(db, 1, account["id"])
        stored = repo.reveal(app.state.ctx.keys, row)
    assert stored == {**CREDS, "pin": "000111"}
    assert (await api(client, "GET", path, key)).json()["result"]["loginId"] == "XY77"
    deleted = await api(client, "DELETE", path, key)
    assert deleted.json() == {"status": "ok", "result": {"deleted": account["id"]}}
    assert (await api(client, "GET", path, key)).status_code == 404


async def test_api_broker_change_picks_its_platform(client, trader):
    key = await trader.reveal_key()
    created = await api(client, "POST", "/api/v1/trading-accounts", key, {**NEW, **CREDS})
    path = f"/api/v1/trading-accounts/{created.json()['result']['id']}"
    moved = await api(client, "PATCH", path, key, {"broker": "Zerodha"})
    assert moved.json()["result"]["platform"] == "Kite Connect"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**CREDS}, "broker"),
        ({**NEW, **CREDS, "broker": "nobroker"}, "broker"),
        ({**NEW, **CREDS, "platform": "Kite Connect"}, "platform"),
        ({**NEW, **CREDS, "pseudoAccName": "x" * 100_000}, "pseudoAccName"),
        ({**NEW, **CREDS, "password": "x" * 100_000}, "password"),
        ({**NEW, **CREDS, "totpKey": "0189"}, "totpKey"),
        ({**NEW, **CREDS, "loginId": 12345}, "loginId"),
        ({**NEW, **CREDS, "pin": None}, "pin"),
        ({**NEW, **CREDS, "apiKey": ["a"]}, "apiKey"),
        ({**NEW, **CREDS, "apiSecret": "has space"}, "apiSecret"),
        ({**NEW, **CREDS, "extra": "x"}, "extra"),
        ({**NEW, **{k: v for k, v in CREDS.items() if k != "apiSecret"}}, "apiSecret"),
        ({**NEW, **CREDS, "loginId": "ünï"}, "loginId"),
        ({**NEW, **CREDS, "pseudoAccName": ""}, "pseudoAccName"),
    ],
)
async def test_api_create_validation(app, client, trader, body, field):
    key = await warm_key(trader, client)
    before = await snapshot(app)
    response = await api(client, "POST", "/api/v1/trading-accounts", key, body)
    assert response.status_code == 422, response.text
    assert field in response.json()["fields"] and field in response.json()["message"]
    assert await snapshot(app) == before


@pytest.mark.parametrize(
    ("raw", "ctype", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 422),
        (b'"text"', "application/json", 422),
        (b"\xff\xfe", "application/json", 400),
        (b"broker=zerodha", "application/x-www-form-urlencoded", 415),
        (b"", "application/json", 400),
        pytest.param(b"x" * 300_000, "application/json", 413, id="300KB-body"),
    ],
)
async def test_api_malformed_bodies(app, client, trader, raw, ctype, status):
    key = await warm_key(trader, client)
    before = await snapshot(app)
    response = await api(client, "POST", "/api/v1/trading-accounts", key, raw=raw, ctype=ctype)
    assert response.status_code == status
    assert response.json()["status"] == "error"
    assert await snapshot(app) == before


async def test_api_patch_validation_changes_nothing(app, client, trader):
    key = await trader.reveal_key()
    created = await api(client, "POST", "/api/v1/trading-accounts", key, {**NEW, **CREDS})
    path = f"/api/v1/trading-accounts/{created.json()['result']['id']}"
    before = await snapshot(app)
    for body in [{"pin": ""}, {"loginId": None}, {"totpKey": "1"}, {"nope": 1}, {"broker": "x"}]:
        response = await api(client, "PATCH", path, key, body)
        assert response.status_code == 422, body
    assert await snapshot(app) == before


async def test_api_needs_the_key(client, trader):
    response = await client.get("/api/v1/trading-accounts")
    assert response.status_code == 401


async def test_openapi_document(client):
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) >= {"/api/v1/me", "/api/v1/trading-accounts"}
    assert doc["components"]["securitySchemes"]["apiKeyHeader"]["name"] == "api-key"
    create = doc["components"]["schemas"]["TradingAccountCreate"]["properties"]
    assert set(create) == set(NEW) | set(CREDS)


# ---- ownership ----


async def test_other_users_ids_are_404_everywhere_and_change_nothing(app, client, trader):
    alice_key = await trader.reveal_key()
    victim = await add(trader)
    async with make_client(app) as other_client:
        bob = Trader(other_client, username="bob")
        await bob.register()
        bob_key = await warm_key(bob, other_client)  # also opens bob's step-up window
        before = await snapshot(app)
        for account_id in (victim, 999, 0, 2**64, 10**40):
            for method, path, data in [
                ("GET", f"/trading-accounts/{account_id}", None),
                ("POST", f"/trading-accounts/{account_id}/view", {"step": "verify"}),
                ("GET", f"/trading-accounts/{account_id}/masked", None),
                ("POST", f"/trading-accounts/{account_id}/edit", {"step": "verify"}),
                ("POST", f"/trading-accounts/{account_id}", {**NEW, "loginId": "HACKED"}),
                ("GET", f"/trading-accounts/{account_id}/delete", None),
                ("POST", f"/trading-accounts/{account_id}/delete", {"confirm": "yes"}),
            ]:
                response = await bob.hx(method, path, data)
                assert response.status_code == 404, (method, path, response.status_code)
                assert all(v not in response.text for v in CREDS.values())
            for method, body in [("GET", None), ("PATCH", {"loginId": "HACKED"}), ("DELETE", None)]:
                path = f"/api/v1/trading-accounts/{account_id}"
                response = await api(other_client, method, path, bob_key, body)
                assert response.status_code == 404
                assert response.json()["message"].startswith("No such trading account.")
        assert await snapshot(app) == before
        listed = await api(other_client, "GET", "/api/v1/trading-accounts", bob_key)
        assert listed.json()["result"] == []
    mine = await api(client, "GET", "/api/v1/trading-accounts", alice_key)
    assert len(mine.json()["result"]) == 1


# ---- at rest ----


async def test_database_never_holds_a_credential(app, client, trader, stored_bytes):
    await add(trader)
    key = await trader.reveal_key()
    other = {**CREDS, "password": "second-Broker-pw-55", "apiSecret": "another_secret_zz"}
    await api(
        client, "POST", "/api/v1/trading-accounts", key, {**NEW, **other, "pseudoAccName": "B"}
    )
    data = await stored_bytes()
    for value in [*CREDS.values(), *other.values()]:
        assert value.encode() not in data, value
    row = (await rows(app))[0]
    assert row.credentials.startswith("v1.")


async def test_credentials_are_bound_to_their_row(app, trader):
    from webapp.repositories import trading_accounts as repo
    from webapp.vault import VaultError

    first, second = await add(trader), await add(trader, pseudoAccName="Other")
    async with app.state.ctx.db() as db:
        a = await repo.get_owned(db, 1, first)
        b = await repo.get_owned(db, 1, second)
        b.credentials = a.credentials  # a database edit moving a ciphertext
        with pytest.raises(VaultError):
            repo.reveal(app.state.ctx.keys, b)
