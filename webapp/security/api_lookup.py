"""The API's hot path: find a key's owner with one indexed query, off the ORM.

Every API call pays for this look-up, so it skips the ORM session and, on SQLite,
SQLAlchemy's pool and thread hops too: one read-only sqlite3 connection answers on the
event loop itself. A unique-index look-up in a WAL database takes tens of microseconds
and never waits for writers (WAL readers don't block), which is less than handing it
to a thread would cost; a short busy timeout bounds the rare wait (WAL recovery).
Each SELECT runs outside any transaction, so it sees the newest commit: a re-generated
key stops working at once, in every worker.

On SQLite each worker also remembers the owners it found, and forgets them all as soon
as ``PRAGMA data_version`` on the same connection moves, which it does whenever any
other connection, in any process, has committed anything: a re-generated, deleted or
suspended key is refused by the very next call, in every worker, as without the cache.

The same row carries everything the API checks per call (permissions, allow-list,
expiry, the grace period of a re-generated key's previous secret), so those checks
cost no further query.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, or_, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from webapp import key_rules
from webapp.models import ApiKey, User

if TYPE_CHECKING:
    import asyncpg

LOOKUP_BUSY_MS = 200  # the event loop waits at most this long for a locked database
CACHE_ENTRIES = 1024  # owners remembered per worker (emptied when full: no eviction order)


@dataclass(frozen=True)
class Principal:
    """Who an API key belongs to: just what the API needs."""

    user_id: int
    username: str
    enrolled: bool
    login_2fa: bool
    credentials_2fa: bool
    last_used_at: float | None
    suspended: bool = False  # the account is locked down: the key is refused, not gone
    key_id: int = 0
    key_name: str = ""
    permissions: frozenset[str] = frozenset()
    allow_ips: str = ""  # stored allow-list text (key_rules.address_allowed reads it)
    expires_at: float | None = None
    # Set when the presented secret is the key's previous one (re-generated with a
    # grace period): it works until then.
    previous_until: float | None = None
    key_created: float = 0.0  # tells this key from a deleted one that had its id


# The raw-SQL paths state "enrolled" as the model does (User.enrolled_sql, rendered once).
_ENROLLED = str(User.enrolled_sql().compile(compile_kwargs={"literal_binds": True}))
_COLUMNS = (
    f"users.id, users.username, ({_ENROLLED}), users.login_2fa, "
    "users.credentials_2fa, api_keys.last_used_at, users.locked_at IS NOT NULL, "
    "api_keys.id, api_keys.name, api_keys.permissions, api_keys.allow_ips, "
    "api_keys.expires_at, api_keys.digest, api_keys.prev_until, api_keys.created_at"
)
_CORE = (
    select(
        col(User.id),
        col(User.username),
        User.enrolled_sql(),
        col(User.login_2fa),
        col(User.credentials_2fa),
        col(ApiKey.last_used_at),
        col(User.locked_at).is_not(None),
        col(ApiKey.id),
        col(ApiKey.name),
        col(ApiKey.permissions),
        col(ApiKey.allow_ips),
        col(ApiKey.expires_at),
        col(ApiKey.digest),
        col(ApiKey.prev_until),
        col(ApiKey.created_at),
    )
    .join(ApiKey, col(ApiKey.user_id) == col(User.id))
    .where(
        or_(
            col(ApiKey.digest).in_(bindparam("digests", expanding=True)),
            col(ApiKey.prev_digest).in_(bindparam("previous", expanding=True)),
        )
    )
)


@cache
def _sqlite_sql(count: int) -> str:
    """The look-up with ``count`` bound digests (constant text: values are parameters)."""
    marks = ", ".join("?" * count)
    # Two unique indexes: SQLite answers the OR with one index look-up per side.
    where = f"api_keys.digest IN ({marks}) OR api_keys.prev_digest IN ({marks})"
    return f"SELECT {_COLUMNS} {_JOIN} WHERE {where}"


_JOIN = "FROM api_keys JOIN users ON users.id = api_keys.user_id"
_POSTGRES_SQL = (
    f"SELECT {_COLUMNS} {_JOIN} "
    "WHERE api_keys.digest = ANY($1::varchar[]) OR api_keys.prev_digest = ANY($1::varchar[])"
)


class ApiKeyLookup:
    """Finds the owner of a key digest: a private read-only connection on SQLite, a
    small asyncpg pool with a prepared statement on PostgreSQL, else the engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._url = make_url(engine.url.render_as_string(hide_password=False))
        backend = self._url.get_backend_name()
        self._sqlite_path = self._url.database if backend == "sqlite" else None
        self._conn: sqlite3.Connection | None = None
        self._pool: asyncpg.Pool | None = None
        # Digests -> owner, valid while the database's data_version stays at _version.
        self._cache: dict[tuple[str, ...], Principal] = {}
        self._version: int | None = None

    async def start(self) -> None:
        """Open the look-up connection or pool."""
        if self._sqlite_path and self._sqlite_path != ":memory:":
            uri = f"{Path(self._sqlite_path).resolve().as_uri()}?mode=ro"
            self._conn = sqlite3.connect(uri, uri=True, isolation_level=None)
            self._conn.execute(f"PRAGMA busy_timeout={LOOKUP_BUSY_MS}")
        elif self._url.get_backend_name() == "postgresql":
            import asyncpg  # only PostgreSQL deployments pay for this import (~20 ms)

            dsn = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
            self._pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)

    async def close(self) -> None:
        """Close the look-up connection or pool."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def trace_statements(self, callback: Callable[[str], object] | None) -> bool:
        """On SQLite, pass each statement the look-up runs to ``callback`` (None stops);
        False where there is no private connection to watch (PostgreSQL)."""
        if self._conn is None:
            return False
        self._conn.set_trace_callback(callback)
        return True

    async def find(self, digests: list[str]) -> Principal | None:
        """The owner of the key with one of these digests, if any."""
        if self._conn is not None:
            # The version first, the row second: a commit in between leaves a newer row
            # under an older version, which the next call throws away (never the reverse).
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            if version != self._version:
                self._cache.clear()
                self._version = version
            key = tuple(digests)
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            row = self._conn.execute(_sqlite_sql(len(digests)), digests + digests).fetchone()
        elif self._pool is not None:
            async with self._pool.acquire() as conn:
                row = await conn.fetchrow(_POSTGRES_SQL, digests)
        else:
            async with self._engine.connect() as conn:
                params = {"digests": digests, "previous": digests}
                row = (await conn.execute(_CORE, params)).first()
        if row is None:
            return None
        principal = Principal(
            row[0],
            row[1],
            bool(row[2]),
            bool(row[3]),
            bool(row[4]),
            row[5],
            bool(row[6]),
            key_id=row[7],
            key_name=row[8],
            permissions=key_rules.permissions_of(row[9]),
            allow_ips=row[10],
            expires_at=row[11],
            previous_until=None if row[12] in digests else row[13],
            key_created=row[14],
        )
        if self._conn is not None:
            self._remember(key, principal)
        return principal

    def _remember(self, key: tuple[str, ...], principal: Principal) -> None:
        if len(self._cache) >= CACHE_ENTRIES:
            self._cache.clear()
        self._cache[key] = principal
