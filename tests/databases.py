"""Which database the suite runs on: SQLite files, or a PostgreSQL server when
AUTOTRADER_TEST_POSTGRES names one (an admin URL; ``scripts/postgres start`` makes one).
Each test gets a database of its own either way."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from urllib.parse import urlsplit

POSTGRES = os.environ.get("AUTOTRADER_TEST_POSTGRES", "")
# One template per xdist worker (``-n 2``): two workers must not create the same one.
TEMPLATE = f"autotrader_template_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


def on_postgres() -> bool:
    """Whether this run uses PostgreSQL."""
    return bool(POSTGRES)


def server() -> tuple[str, str, str]:
    """The test server's host, port and admin user."""
    parts = urlsplit(POSTGRES)
    return parts.hostname or "127.0.0.1", str(parts.port or 5432), parts.username or "postgres"


def app_url(name: str) -> str:
    """The app's URL for database ``name`` on the test server."""
    host, port, user = server()
    return f"postgresql+asyncpg://{user}@{host}:{port}/{name}"


def _run(*command: str) -> None:
    host, port, user = server()
    subprocess.run(
        [command[0], "-h", host, "-p", port, "-U", user, *command[1:]],
        check=True,
        capture_output=True,
        timeout=60,
    )


def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (from outside any event loop)."""
    from webapp import schema
    from webapp.db import make_engine

    async def run() -> None:
        engine = make_engine(url)
        await schema.upgrade(engine)
        await engine.dispose()

    asyncio.run(run())


_template_ready = False


def ensure_template() -> None:
    """Make, once per run, the migrated template every test database is copied from."""
    global _template_ready
    if not _template_ready:
        _run("dropdb", "--if-exists", TEMPLATE)
        _run("createdb", TEMPLATE)
        upgrade(app_url(TEMPLATE))
        _template_ready = True


def fresh_url(template: bool = True) -> str:
    """A new PostgreSQL database for one test, migrated unless ``template`` is False
    ("" on SQLite, where each test has its own data directory)."""
    if not POSTGRES:
        return ""
    name = "t_" + uuid.uuid4().hex[:20]
    if template:
        ensure_template()
        _run("createdb", "-T", TEMPLATE, name)
    else:
        _run("createdb", name)
    return app_url(name)
