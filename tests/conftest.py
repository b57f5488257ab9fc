"""Fixtures: a fresh app on a real SQLite file per test, a frozen clock, traders."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import FrozenClock, Trader, fast_passwords
from webapp import schema
from webapp.app import create_app
from webapp.config import Settings
from webapp.db import make_engine
from webapp.vault import new_key_line


@pytest.fixture
def clock() -> FrozenClock:
    """Time that moves only when a test says so."""
    return FrozenClock()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path:
    """An empty SQLite database at the newest schema, made once and copied per test."""
    path = tmp_path_factory.mktemp("template") / "autotrader.db"

    async def build() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        await schema.upgrade(engine)
        await engine.dispose()

    asyncio.run(build())
    return path


@pytest.fixture
def settings(tmp_path: Path, migrated_template: Path) -> Settings:
    """Settings for one test: its own data directory, database and master key."""
    data_dir = tmp_path / "var"
    data_dir.mkdir(mode=0o700)
    shutil.copy(migrated_template, data_dir / "autotrader.db")
    return Settings(data_dir=data_dir, master_keys=new_key_line("k1"))


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock) -> AsyncIterator:
    """The app with its lifespan running (schema created)."""
    application = create_app(settings, clock=clock, passwords=fast_passwords())
    async with application.router.lifespan_context(application):
        yield application


def make_client(app) -> httpx.AsyncClient:
    """A client that talks to the app in-process over "https" (Secure cookies)."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    return httpx.AsyncClient(transport=transport, base_url="https://testserver")


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    """One browser."""
    async with make_client(app) as c:
        yield c


@pytest.fixture
async def trader(client: httpx.AsyncClient) -> Trader:
    """A registered, signed-in trader."""
    t = Trader(client)
    response = await t.register()
    assert response.status_code == 303
    return t


@pytest.fixture
def db_files(settings: Settings) -> list[Path]:
    """The SQLite database file and its WAL, for raw-byte checks."""
    base = settings.data_dir / "autotrader.db"
    return [base, base.with_name(base.name + "-wal")]
