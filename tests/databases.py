"""Which database the suite runs on: SQLite files, or a PostgreSQL server when
AUTOTRADER_TEST_POSTGRES names one (an admin URL; ``scripts/postgres start`` makes one).
Each test gets a database of its own either way."""

from __future__ import annotations

import os
import subprocess
import uuid
from urllib.parse import urlsplit

POSTGRES = os.environ.get("AUTOTRADER_TEST_POSTGRES", "")
TEMPLATE = "autotrader_template"


def on_postgres() -> bool:
    """Whether this run uses PostgreSQL."""
    return bool(POSTGRES)


def _server() -> tuple[str, str, str]:
    parts = urlsplit(POSTGRES)
    return parts.hostname or "127.0.0.1", str(parts.port or 5432), parts.username or "postgres"


def app_url(name: str) -> str:
    """The app's URL for database ``name`` on the test server."""
    host, port, user = _server()
    return f"postgresql+asyncpg://{user}@{host}:{port}/{name}"


def _createdb(name: str, template: str | None = None) -> None:
    host, port, user = _server()
    cmd = ["createdb", "-h", host, "-p", port, "-U", user]
    if template:
        cmd += ["-T", template]
    subprocess.run([*cmd, name], check=True, capture_output=True, timeout=60)


def create_template(upgrade) -> None:
    """Make the migrated template every test database is copied from."""
    host, port, user = _server()
    subprocess.run(
        ["dropdb", "--if-exists", "-h", host, "-p", port, "-U", user, TEMPLATE],
        check=True,
        capture_output=True,
        timeout=60,
    )
    _createdb(TEMPLATE)
    upgrade(app_url(TEMPLATE))


def fresh_url(template: bool = True) -> str:
    """A new PostgreSQL database for one test, migrated unless ``template`` is False
    ("" on SQLite, where each test has its own data directory)."""
    if not POSTGRES:
        return ""
    name = "t_" + uuid.uuid4().hex[:20]
    _createdb(name, TEMPLATE if template else None)
    return app_url(name)
