"""Engine and session factory (the schema belongs to Alembic: webapp/schema.py).

On SQLite a transaction takes the write lock with its first write (``BEGIN IMMEDIATE``)
and reads before that run in autocommit, each seeing the newest commit — as PostgreSQL's
READ COMMITTED does. A deferred transaction that read first and then writes fails at
once with "database is locked" when another connection committed in between (SQLite
cannot upgrade a stale read snapshot, and the busy timeout does not apply); taking the
lock up front makes a burst of writers queue for up to the request budget instead.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, CursorResult, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.sql.elements import TextClause
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.config import ConfigError

# How long one request may reasonably take; a writer waits at most this long for the lock.
REQUEST_BUDGET_SECONDS = 10
BUSY_TIMEOUT_MS = REQUEST_BUDGET_SECONDS * 1000
# Statements that change the database: the first one in a transaction takes the lock.
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "SAVEPOINT")


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: object) -> None:
    # WAL lets readers run beside a writer; the busy timeout makes a writer wait for
    # the write lock instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # The driver must not open transactions by itself: _begin_on_first_write does.
    dbapi_connection.isolation_level = None


def _begin_on_first_write(conn: Connection, cursor: object, statement: str, *_args: object) -> None:
    if statement.lstrip()[:9].upper().startswith(_WRITES):
        driver = conn.connection.driver_connection
        dbapi = conn.connection.dbapi_connection
        # A connection running a statement is checked out: both are set.
        assert driver is not None and dbapi is not None
        if not driver.in_transaction:
            begin = dbapi.cursor()
            begin.execute("BEGIN IMMEDIATE")
            begin.close()


def private_database_files(database: Path) -> None:
    """Create the SQLite file 0600 (its WAL and SHM inherit the mode) and tighten
    existing ones, whatever the folder's mode or the umask."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)


def make_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite files get WAL mode, a busy timeout and immediate writes."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            private_database_files(Path(parsed.database))
        engine = create_async_engine(
            url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, hide_parameters=True
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "before_cursor_execute", _begin_on_first_write)
        return engine
    # hide_parameters: hashes, digests, ciphertexts and session ids never reach a log
    # line or an error message, whatever the log level.
    try:
        return create_async_engine(url, pool_pre_ping=True, hide_parameters=True)
    except ModuleNotFoundError as exc:  # the driver is an extra: `postgres` for asyncpg
        raise ConfigError(
            f"AUTOTRADER_DATABASE_URL needs the {exc.name} driver, which is not installed "
            "(install requirements/postgres.txt, or the package with its postgres extra)"
        ) from exc


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def run_sql(
    session: AsyncSession, statement: TextClause, params: Mapping[str, object]
) -> CursorResult[*tuple[Any, ...]]:
    """Run a plain-SQL statement in the session's transaction (its own connection).

    sqlmodel's ``exec`` is typed for ORM statements only; a text statement would go
    straight to this connection there too, with no autoflush, so nothing differs.
    """
    connection = await session.connection()
    return await connection.execute(statement, dict(params))
