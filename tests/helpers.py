"""Test helpers: a frozen clock, a trader who clicks through forms, page scraping."""

from __future__ import annotations

import base64
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
from argon2 import PasswordHasher, Type
from sqlalchemy import select
from sqlmodel import SQLModel

from webapp import totp
from webapp.passwords import Passwords

PASSWORD = "correct horse battery staple"
# A cheaper argon2id profile keeps the suite fast; production parameters are tested apart.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID)


def fast_passwords() -> Passwords:
    """argon2id with small parameters, for tests."""
    return Passwords(hasher=FAST_HASHER)


@dataclass
class FrozenClock:
    """A clock that only moves when told to."""

    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_HX = re.compile(r'"X-CSRF-Token": &#34;([^&]+)&#34;|"X-CSRF-Token": "([^"]+)"')


def csrf_from(html: str) -> str:
    """The CSRF token a page carries (hidden field or hx-headers)."""
    found = _CSRF.search(html)
    if found:
        return found.group(1)
    hx = _HX.search(html)
    assert hx, "page carries no CSRF token"
    return hx.group(1) or hx.group(2)


def session_payload(client: httpx.AsyncClient) -> dict:
    """The decoded (signed, not encrypted) session cookie."""
    raw = client.cookies.get("autotrader_session")
    if raw is None:
        return {}
    data = raw.split(".")[0]
    return json.loads(base64.b64decode(data + "=" * (-len(data) % 4)))


@dataclass
class Trader:
    """A user driving the app through its forms, as a browser would."""

    client: httpx.AsyncClient
    username: str = "alice"
    password: str = PASSWORD
    csrf: str = ""
    api_key: str = ""
    totp_secret: str = ""
    recovery: list[str] = field(default_factory=list)

    async def page(self, path: str) -> httpx.Response:
        """GET a page and remember its CSRF token."""
        response = await self.client.get(path)
        if response.status_code == 200 and "csrf" in response.text.lower():
            self.csrf = csrf_from(response.text)
        return response

    async def form(self, path: str, data: dict, **kwargs) -> httpx.Response:
        """POST a plain form with the hidden CSRF field."""
        return await self.client.post(path, data={"csrf_token": self.csrf, **data}, **kwargs)

    async def hx(self, method: str, path: str, data: dict | None = None) -> httpx.Response:
        """An htmx request: CSRF in the header, HX-Request set."""
        headers = {"X-CSRF-Token": self.csrf, "HX-Request": "true"}
        return await self.client.request(method, path, data=data or {}, headers=headers)

    async def register(self) -> httpx.Response:
        """Sign up; the trader ends up signed in."""
        await self.page("/register")
        response = await self.form(
            "/register", {"username": self.username, "password": self.password}
        )
        if response.status_code == 303:
            await self.page("/settings/security")
        return response

    async def login(self, password: str | None = None) -> httpx.Response:
        """Sign in with the password (no code step)."""
        await self.page("/login")
        response = await self.form(
            "/login", {"username": self.username, "password": password or self.password}
        )
        if response.status_code == 303 and response.headers["location"] == "/settings/security":
            await self.page("/settings/security")
        return response

    async def logout(self) -> httpx.Response:
        """Sign out."""
        return await self.form("/logout", {})

    async def view_key(self, password: str | None = None, code: str = "") -> httpx.Response:
        """Submit the View modal."""
        data = {"step": "verify", "password": self.password if password is None else password}
        if code:
            data["code"] = code
        return await self.hx("POST", "/settings/security/api-key/view", data)

    async def reveal_key(self) -> str:
        """View the key with the password and return it."""
        response = await self.view_key()
        assert response.status_code == 200, response.text
        self.api_key = key_in(response.text)
        return self.api_key

    def code(self, clock: FrozenClock, offset_steps: int = 0) -> str:
        """The code the trader's authenticator app shows now."""
        return totp.code_at(self.totp_secret, clock.now + 30 * offset_steps)


_SECRET = re.compile(r'id="totp-secret">([A-Z2-7 ]+)</code>')
_RECOVERY = re.compile(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>")


def secret_in(html: str) -> str:
    """The TOTP secret shown for typing by hand, without spaces."""
    found = _SECRET.search(html)
    assert found, "no TOTP secret in the response"
    return found.group(1).replace(" ", "")


def recovery_codes_in(html: str) -> list[str]:
    """The recovery codes shown once."""
    return _RECOVERY.findall(html)


async def enrol(trader: Trader, clock: FrozenClock) -> httpx.Response:
    """Set up 2FA through the Security page: set-up, read the secret, confirm."""
    started = await trader.hx("POST", "/settings/security/2fa/setup")
    trader.totp_secret = secret_in(started.text)
    confirmed = await trader.hx(
        "POST",
        "/settings/security/2fa/confirm",
        {"code": trader.code(clock), "password": trader.password},
    )
    trader.recovery = recovery_codes_in(confirmed.text)
    return confirmed


async def change_2fa(
    trader: Trader, clock: FrozenClock, action: str, code: str | None = None, **extra: str
) -> httpx.Response:
    """Submit a 2FA change modal with password and a fresh code (the clock moves on)."""
    if code is None:
        clock.advance(30)
        code = trader.code(clock)
    data = {"step": "verify", "password": trader.password, "code": code, **extra}
    return await trader.hx("POST", f"/settings/security/2fa/{action}", data)


_KEY = re.compile(r"at_[0-9A-Za-z]{49}")


def key_in(html: str) -> str:
    """The API key shown in a response."""
    found = _KEY.search(html)
    assert found, "no API key in the response"
    return found.group(0)


def make_client(app) -> httpx.AsyncClient:
    """A client that talks to the app in-process over "https" (Secure cookies)."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    return httpx.AsyncClient(transport=transport, base_url="https://testserver")


async def snapshot(app) -> dict:
    """Every row of every table."""
    out = {}
    async with app.state.ctx.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            rows = (await conn.execute(select(table))).all()
            out[table.name] = sorted(map(repr, rows))
    return out


# A trading account as the new-account form and the API take it.
CREDS = {
    "password": "br0ker-Pass-9731",
    "pin": "482916",
    "totpKey": "KRSXG5CTMVRXEZLUKN2XAZLSKNSWG4TF",
    "apiKey": "kite_api_key_5f2c9a",
    "apiSecret": "kite_secret_7d41be90aa",
}
# A Zerodha account in one dict, as the new-account form takes it.
ZERODHA = {
    "broker": "zerodha",
    "pseudoAccName": "Main",
    "loginId": "AB1234",
    "password": "broker-pass",
    "totpKey": "JBSWY3DPEHPK3PXP",
    "apiKey": "kite-key",
    "apiSecret": "kite-secret",
}
NEW = {"broker": "upstox", "platform": "Upstox API", "pseudoAccName": "Main", "loginId": "AB1234"}


async def add(trader: Trader, **over) -> int:
    """Add an account through the page form; returns its id."""
    await trader.page("/trading-accounts/new")
    response = await trader.form("/trading-accounts", {**NEW, **CREDS, **over})
    assert response.status_code == 303, response.text
    page = await trader.page("/trading-accounts")
    return int(re.findall(r'id="acct-(\d+)"', page.text)[-1])


async def api(client, method, path, key, body=None, raw=None, ctype="application/json"):
    """An API request with the key in its header and ``body`` as JSON (or ``raw``)."""
    headers = {"api-key": key, "content-type": ctype}
    content = raw if raw is not None else (json.dumps(body) if body is not None else None)
    return await client.request(method, path, headers=headers, content=content)


def crash_on_row(row: int):
    """An ``on_row`` callback for rotation that fails (a power cut) at row number ``row``."""
    seen = 0

    def on_row() -> None:
        nonlocal seen
        seen += 1
        if seen == row:
            raise RuntimeError("power cut")

    return on_row


@contextlib.asynccontextmanager
async def registered(
    settings, clock, **options: object
) -> AsyncIterator[tuple[object, httpx.AsyncClient, Trader]]:
    """An app of its own on ``settings`` (``options`` go to create_app), started, with a
    client and a trader who has registered: (app, client, trader)."""
    from webapp.app import create_app  # here: most helpers need no app module

    app = create_app(settings, clock=clock, passwords=fast_passwords(), **options)
    async with app.router.lifespan_context(app), make_client(app) as client:
        trader = Trader(client)
        await trader.register()
        yield app, client, trader
