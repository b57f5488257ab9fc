"""The schema is Alembic's: upgrade, and check that a database is at the app's revision."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class SchemaBehind(RuntimeError):
    """The database is older than this version of the app."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@functools.cache
def head() -> str:
    """The newest revision this code knows."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _is_empty(connection: Connection) -> bool:
    return not inspect(connection).get_table_names()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> tuple[str | None, str]:
    """Upgrade the database to ``revision``; returns (before, after)."""

    def run(connection: Connection) -> tuple[str | None, str]:
        before = _current(connection)
        command.upgrade(_config(connection), revision)
        return before, _current(connection) or ""

    async with engine.begin() as conn:
        return await conn.run_sync(run)


async def ensure_current(engine: AsyncEngine) -> None:
    """Create a brand-new database; refuse to run on one whose schema is behind."""
    async with engine.connect() as conn:
        empty = await conn.run_sync(_is_empty)
        current = await conn.run_sync(_current)
    if empty:
        await upgrade(engine)
        return
    if current != head():
        raise SchemaBehind(
            f"The database schema is at revision {current or 'none'}, this version of the app "
            f"needs {head()}. Back it up, then run: python -m webapp migrate"
        )
