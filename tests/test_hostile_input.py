"""Hostile bodies against every route of the app, generated from its route table.

Deep JSON, huge numbers, lone surrogates and control characters: each gets a 4xx
with a message, changes nothing, and never a 500. Plus the 500 page itself.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from starlette.routing import Route

from tests.helpers import Trader, fast_passwords, make_client, snapshot
from webapp.app import create_app

DEEP = b"[" * 100_000 + b"]" * 100_000
HUGE = b'{"broker": "zerodha", "pseudoAccName": ' + b"9" * 5000 + b"}"
SURROGATE_JSON = (
    b'{"broker": "zerodha", "pseudoAccName": "Main", "loginId": "AB1", '
    b'"password": "p\\ud800", "apiKey": "k", "apiSecret": "s"}'
)
CONTROL_JSON = (
    b'{"broker": "zerodha", "pseudoAccName": "Main", "loginId": "AB1", '
    b'"password": "p", "apiKey": "key\\n", "apiSecret": "s", "totpKey": "JBSWY3DPEHPK3PXP\\u0000"}'
)
JSON_BODIES = {
    "deep": DEEP,
    "huge-number": HUGE,
    "surrogate": SURROGATE_JSON,
    "control": CONTROL_JSON,
}
# Percent-encoded: a lone surrogate as UTF-8 bytes (invalid), a NUL, a newline.
FORM_BODIES = {
    "surrogate": b"password=%ED%A0%80&username=%ED%A0%80&code=%ED%A0%80&pseudoAccName=%ED%A0%80",
    "nul": b"password=a%00b&username=al%00ice&code=12%0034&apiKey=k%00",
    "newline": b"apiKey=key%0A&apiSecret=s%0D%0A&loginId=AB1%0A&totpKey=JBSWY3DPEHPK3PXP%0A",
}


def unsafe_paths(app) -> list[tuple[str, str]]:
    """Every (method, path) that changes something, from the route table."""
    out = []
    for route in app.routes:
        if not isinstance(route, Route):
            continue
        path = re.sub(r"{account_id(:\w+)?}", "1", route.path)
        path = re.sub(r"{passkey_id(:\w+)?}", "1", path)
        path = re.sub(r"{key_id(:\w+)?}", "1", path)
        path = re.sub(r"{action}", "remove", path)
        path = re.sub(r"{record_id(:\w+)?}", "x", path)
        path = re.sub(r"{rest(:\w+)?}", "v1/nothing", path)
        for method in sorted((route.methods or set()) - {"GET", "HEAD"}):
            out.append((method, path))
    return out


def _cases() -> list[tuple[str, str, str]]:
    app = create_app(_settings_for_listing())
    return [(m, p, kind) for m, p in unsafe_paths(app) for kind in ("json", "form")]


def _settings_for_listing():
    import tempfile
    from pathlib import Path

    from webapp.config import Settings
    from webapp.vault import new_key_line

    return Settings(data_dir=Path(tempfile.mkdtemp()), master_keys=new_key_line("k1"))


@pytest.mark.parametrize(("method", "path", "kind"), _cases())
async def test_hostile_bodies_on_every_route(app, trader: Trader, method, path, kind):
    # An account to aim at, so id 1 exists for the account routes.
    await trader.page("/trading-accounts/new")
    await trader.form(
        "/trading-accounts",
        {
            "broker": "zerodha",
            "pseudoAccName": "Main",
            "loginId": "AB1234",
            "password": "x",
            "apiKey": "k",
            "apiSecret": "s",
        },
    )
    key = await trader.reveal_key()
    await trader.page("/settings/security")
    before = await snapshot(app)
    bodies = JSON_BODIES if kind == "json" else FORM_BODIES
    content_type = "application/json" if kind == "json" else "application/x-www-form-urlencoded"
    for name, body in bodies.items():
        headers = {
            "content-type": content_type,
            "X-CSRF-Token": trader.csrf,
            "HX-Request": "true",
            "api-key": key,
        }
        response = await trader.client.request(method, path, content=body, headers=headers)
        assert response.status_code < 500, (name, response.status_code, response.text[:200])
        if response.status_code >= 400:
            assert response.text.strip(), name
        elif path != "/logout":
            # Accepted only where the body carried nothing the route reads.
            assert "p\ud800" not in response.text
    after = await snapshot(app)
    after.pop("security_events", None), before.pop("security_events", None)
    after.pop("throttles", None), before.pop("throttles", None)
    after.pop("sessions", None), before.pop("sessions", None)
    after.pop("api_keys", None), before.pop("api_keys", None)  # last-used time
    after.pop("api_key_uses", None), before.pop("api_key_uses", None)  # the usage log
    after.pop("users", None), before.pop("users", None)  # a pending 2FA set-up
    # The passkey options routes read no fields: a body they ignore still gets a challenge.
    after.pop("passkey_challenges", None), before.pop("passkey_challenges", None)
    assert after == before, (method, path)


async def test_stored_credentials_never_hold_a_surrogate_or_control(app, trader: Trader):
    key = await trader.reveal_key()
    headers = {"api-key": key, "content-type": "application/json"}
    for body in (SURROGATE_JSON, CONTROL_JSON):
        response = await trader.client.post(
            "/api/v1/trading-accounts", content=body, headers=headers
        )
        assert response.status_code == 422, response.text
        assert response.json()["fields"], response.text
    listed = await trader.client.get("/api/v1/trading-accounts", headers={"api-key": key})
    assert listed.json()["result"] == []


@pytest.mark.parametrize("value", ["key\n", "key\r\n", "ke\ty", "key\x00"])
async def test_credential_fields_refuse_control_characters(app, trader: Trader, value):
    key = await trader.reveal_key()
    body = {
        "broker": "zerodha",
        "pseudoAccName": "Main",
        "loginId": "AB1",
        "password": "p",
        "apiKey": value,
        "apiSecret": "s",
    }
    response = await trader.client.post(
        "/api/v1/trading-accounts", json=body, headers={"api-key": key}
    )
    assert response.status_code == 422
    assert "apiKey" in response.json()["fields"]


async def test_activity_before_beyond_64_bits_is_a_400(trader: Trader):
    for before in ("9" * 30, str(2**63), "-1", "１２", "0"):
        response = await trader.client.get(f"/settings/security/activity?before={before}")
        assert response.status_code == 400, before


def _boom_app(settings, clock, trusted: str):
    async def boom(request):
        raise RuntimeError("a bug")

    settings = replace(settings, trusted_proxies=trusted)
    routes = [Route("/boom", boom, methods=["GET", "POST"])]
    return create_app(settings, clock=clock, passwords=fast_passwords(), extra_routes=routes)


@pytest.mark.parametrize("trusted", ["", "203.0.113.0/24"])
async def test_the_500_page_carries_the_headers_and_no_session(settings, clock, trusted):
    application = _boom_app(settings, clock, trusted)
    lifespan = application.router.lifespan_context(application)
    async with lifespan, make_client(application) as client:
        await Trader(client).register()
        headers = {"X-Forwarded-For": "198.51.100.4", "X-Forwarded-Proto": "https"}
        page = await client.get("/boom", headers=headers)
        assert page.status_code == 500
        assert "Something went wrong on our side" in page.text
        assert "Content-Security-Policy" in page.headers
        assert page.headers["cache-control"] == "no-store"
        assert "alice" not in page.text  # rendered without the session's user
        hx = await client.get("/boom", headers={**headers, "HX-Request": "true"})
        assert hx.status_code == 500 and hx.text.startswith("Something went wrong")
        # The connection is answered, and the app keeps serving.
        assert (await client.get("/healthz")).status_code == 200
