"""Fixtures: a fresh app on a real SQLite file per test, a frozen clock, traders."""

from __future__ import annotations

import inspect
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import SQLModel

from tests import databases
from tests.helpers import FrozenClock, Trader, fast_passwords, make_client
from webapp.app import create_app
from webapp.config import Settings
from webapp.vault import new_key_line


@pytest.fixture
def clock() -> FrozenClock:
    """Time that moves only when a test says so."""
    return FrozenClock()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path:
    """An empty database at the newest schema, made once and copied for every test."""
    path = tmp_path_factory.mktemp("template") / "autotrader.db"
    if databases.on_postgres():
        databases.ensure_template()
    else:
        databases.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def pytest_report_header(config) -> str:
    """Say which database this run uses."""
    if databases.on_postgres():
        return f"database: PostgreSQL ({databases.POSTGRES})"
    return "database: SQLite (set AUTOTRADER_TEST_POSTGRES for the PostgreSQL run)"


# What makes a test slow: it starts processes (live servers, workers, CLI commands,
# clones, builds). Found by what the test and its module-level helpers and fixtures call.
STARTS_PROCESSES = frozenset({"subprocess", "running_server", "Popen"})


def _starts_processes(func, module, seen: set) -> bool:
    """Whether ``func``, or a function of its module it calls, starts a process."""
    func = inspect.unwrap(func)
    code = getattr(func, "__code__", None)
    if code is None or code in seen:
        return False
    seen.add(code)
    names = set(code.co_names)
    for const in code.co_consts:  # nested functions and lambdas
        if inspect.iscode(const):
            names |= set(const.co_names)
    if names & STARTS_PROCESSES:
        return True
    return any(
        _starts_processes(getattr(module, name), module, seen)
        for name in names
        if inspect.isfunction(inspect.unwrap(getattr(module, name, None) or len))
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items) -> None:
    """Mark browser tests (tests/e2e), slow ones (they start processes) and skip the
    PostgreSQL-only ones without a server and the SQLite-only ones on PostgreSQL."""
    on_postgres = databases.on_postgres()
    sqlite_only = pytest.mark.skip(reason="SQLite-only feature; this run uses PostgreSQL")
    needs_postgres = pytest.mark.skip(reason="needs PostgreSQL (AUTOTRADER_TEST_POSTGRES)")
    for item in items:
        if "e2e" in item.path.parts:
            item.add_marker(pytest.mark.browser)
        module = getattr(item, "module", None)
        func = getattr(item, "function", None)
        if module is not None and func is not None:
            seen: set = set()
            requested = [getattr(module, name, None) for name in item.fixturenames]
            funcs = [func, *(f for f in requested if f is not None and callable(f))]
            if any(_starts_processes(f, module, seen) for f in funcs):
                item.add_marker(pytest.mark.slow)
        if on_postgres and item.get_closest_marker("sqlite_only"):
            item.add_marker(sqlite_only)
        if not on_postgres and item.get_closest_marker("postgres"):
            item.add_marker(needs_postgres)


@pytest.fixture
def database_url(migrated_template: Path) -> str:
    """A fresh database for one test ("" means SQLite in the data directory)."""
    return databases.fresh_url()


@pytest.fixture
def settings(tmp_path: Path, migrated_template: Path, database_url: str) -> Settings:
    """Settings for one test: its own data directory, database and master key."""
    data_dir = tmp_path / "var"
    data_dir.mkdir(mode=0o700)
    if not database_url:
        shutil.copy(migrated_template, data_dir / "autotrader.db")
    return Settings(data_dir=data_dir, master_keys=new_key_line("k1"), database_url=database_url)


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock) -> AsyncIterator:
    """The app with its lifespan running (schema created)."""
    # Tests write the API usage queue themselves (api_usage.flush), so what they read
    # never depends on when a background task ran.
    application = create_app(settings, clock=clock, passwords=fast_passwords(), usage_writer=False)
    async with application.router.lifespan_context(application):
        yield application


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
def stored_bytes(app, settings: Settings):
    """Everything the database holds, as bytes: the SQLite file and its WAL, or on
    PostgreSQL every row of every table as text."""

    async def read() -> bytes:
        if not settings.database_url:
            base = settings.data_dir / "autotrader.db"
            files = [base, base.with_name(base.name + "-wal")]
            return b"".join(p.read_bytes() for p in files if p.exists())
        chunks = []
        async with app.state.ctx.engine.connect() as conn:
            for table in SQLModel.metadata.sorted_tables:
                rows = (await conn.execute(select(table))).all()
                chunks.append(repr(rows).encode())
        return b"\n".join(chunks)

    return read
