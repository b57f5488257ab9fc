"""Forwarded headers count only from AUTOTRADER_TRUSTED_PROXIES."""

from dataclasses import replace

import httpx
import pytest
from sqlmodel import select

from tests.helpers import Trader, fast_passwords
from webapp.app import create_app
from webapp.config import ConfigError, Settings
from webapp.models import SecurityEvent


@pytest.fixture
async def proxied_app(settings, clock):
    app = create_app(
        replace(settings, trusted_proxies="10.0.0.1, 10.9.0.0/16", cookie_secure=False),
        clock=clock,
        passwords=fast_passwords(),
    )
    async with app.router.lifespan_context(app):
        yield app


def client_from(app, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 5555))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def last_event_ip(app) -> str:
    async with app.state.ctx.db() as db:
        events = (await db.exec(select(SecurityEvent).order_by(SecurityEvent.id))).all()
    return events[-1].ip


async def sign_in_attempt(client) -> None:
    visitor = Trader(client, username="nobody")
    await visitor.page("/login")
    headers = client.headers
    await client.post(
        "/login",
        data={"csrf_token": visitor.csrf, "username": "alice", "password": "wrong password!"},
        headers=headers,
    )


async def register_alice(app):
    async with client_from(app, "10.0.0.1") as c:
        c.headers["X-Forwarded-Proto"] = "https"
        await Trader(c).register()


async def test_trusted_proxy_gives_the_real_client_and_scheme(proxied_app):
    await register_alice(proxied_app)
    async with client_from(proxied_app, "10.0.0.1") as c:
        c.headers.update({"X-Forwarded-For": "1.1.1.1, 203.0.113.9", "X-Forwarded-Proto": "https"})
        response = await c.get("/healthz")
        assert "strict-transport-security" in response.headers
        await sign_in_attempt(c)
    assert await last_event_ip(proxied_app) == "203.0.113.9"


async def test_chain_through_two_trusted_proxies(proxied_app):
    await register_alice(proxied_app)
    async with client_from(proxied_app, "10.0.0.1") as c:
        c.headers.update(
            {"X-Forwarded-For": "198.51.100.4, 10.9.3.3", "X-Forwarded-Proto": "https"}
        )
        await sign_in_attempt(c)
    assert await last_event_ip(proxied_app) == "198.51.100.4"


async def test_spoofed_headers_from_an_untrusted_address_are_ignored(proxied_app):
    await register_alice(proxied_app)
    async with client_from(proxied_app, "198.51.100.7") as c:
        c.headers.update({"X-Forwarded-For": "1.2.3.4", "X-Forwarded-Proto": "https"})
        response = await c.get("/healthz")
        assert "strict-transport-security" not in response.headers
        await sign_in_attempt(c)
    assert await last_event_ip(proxied_app) == "198.51.100.7"


async def test_throttle_counts_the_real_client(proxied_app):
    from webapp.security import throttle

    async with proxied_app.state.ctx.db() as db:
        now = proxied_app.state.ctx.now()
        await throttle.record_failure(
            db, throttle.address_key("203.0.113.9"), throttle.ADDRESS, now
        )
        await db.commit()
    async with client_from(proxied_app, "10.0.0.1") as c:
        c.headers.update({"X-Forwarded-For": "203.0.113.9"})
        await sign_in_attempt(c)
    async with proxied_app.state.ctx.db() as db:
        from webapp.models import Throttle

        row = await db.get(Throttle, throttle.address_key("203.0.113.9"))
    assert row.failures == 2


async def test_garbage_forwarded_for_keeps_the_proxy_address(proxied_app):
    await register_alice(proxied_app)
    async with client_from(proxied_app, "10.0.0.1") as c:
        c.headers.update({"X-Forwarded-For": "not-an-ip", "X-Forwarded-Proto": "https"})
        await sign_in_attempt(c)
    assert await last_event_ip(proxied_app) == "10.0.0.1"


def test_bad_proxy_setting_is_refused():
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        Settings.from_env({"AUTOTRADER_TRUSTED_PROXIES": "10.0.0.1, banana"})
