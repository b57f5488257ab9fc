"""The schema is Alembic's: upgrade, and check that a database is at the app's revision.

Start-up only reads ``alembic_version`` and compares it with :data:`HEAD`; Alembic
itself (a heavy import) loads only when a database must be created or upgraded.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The newest revision in migrations/versions (a test checks it against Alembic's head).
HEAD = "0005_api_keys"


class SchemaBehind(RuntimeError):
    """The database is older than this version of the app."""


class SchemaNewer(RuntimeError):
    """The database was made by a newer version of the app."""

    def __init__(self, current: str) -> None:
        super().__init__(
            f"The database schema is at revision {current}, which this version of the app "
            "does not know: this database is newer than this version of the app — upgrade "
            "the app (or restore a backup made with this version)"
        )


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision the migration scripts define (asks Alembic)."""
    from alembic.script import ScriptDirectory

    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def _current(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def is_known(revision: str) -> bool:
    """Whether the migration scripts define ``revision`` (asks Alembic)."""
    quiet = logging.getLogger("alembic")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # its INFO lines would bury the one-sentence refusal
    try:
        from alembic.script import ScriptDirectory
        from alembic.util import CommandError

        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except CommandError:
        return False
    finally:
        quiet.setLevel(level)


def _is_empty(connection: Connection) -> bool:
    return not inspect(connection).get_table_names()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> tuple[str | None, str]:
    """Upgrade the database to ``revision``; returns (before, after)."""
    from alembic import command

    def run(connection: Connection) -> tuple[str | None, str]:
        before = _current(connection)
        if before is not None and not is_known(before):
            raise SchemaNewer(before)  # never "upgrade" a schema this app cannot read
        command.upgrade(_config(connection), revision)
        return before, _current(connection) or ""

    async with engine.begin() as conn:
        return await conn.run_sync(run)


async def ensure_current(engine: AsyncEngine) -> None:
    """Create a brand-new database; refuse to run on one whose schema is behind."""
    async with engine.connect() as conn:
        current = await conn.run_sync(_current)
        empty = current is None and await conn.run_sync(_is_empty)
    if empty:
        await upgrade(engine)
        return
    if current != HEAD:
        if current is not None and not is_known(current):
            raise SchemaNewer(current)
        raise SchemaBehind(
            f"The database schema is at revision {current or 'none'}, this version of the app "
            f"needs {HEAD}. Back it up, then run: python -m webapp migrate"
        )
