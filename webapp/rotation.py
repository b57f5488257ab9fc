"""Master-key rotation: re-encrypt every sealed column under the active key, beside a
running app, without ever undoing a write the app made meanwhile.

- The new key goes into the ring first (the key file; running apps re-read it), so from
  then on the app seals everything it writes with it.
- Rows still under an older key are read in small batches, re-encrypted outside any
  transaction, and written back with ``UPDATE … WHERE <pk> = … AND <column> = <the
  ciphertext read>``: a row the app changed meanwhile is left alone (its new value is
  already under the new key, or the next pass picks it up) — never overwritten with the
  value it had before.
- A ciphertext and the look-up digest of the same plaintext change in one statement, so
  a row never pairs one key's digest with another key's ciphertext.
- Each batch is one short transaction: SQLite's write lock is held for milliseconds,
  far below the app's busy timeout.
- Passes repeat until no row is left under an older key: an interrupted run is finished
  by running it again; a finished one moves nothing. Only one run at a time
  (:mod:`webapp.rotation_lock`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnClause,
    ColumnElement,
    Row,
    TableClause,
    Update,
    and_,
    bindparam,
    column,
    event,
    func,
    literal,
    select,
    table,
    text,
    update,
)
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine

from webapp import db as database
from webapp import schema
from webapp.config import Settings
from webapp.rotation_lock import rotation_lock
from webapp.sealed_columns import ALL, CIPHERTEXT_PREFIX, SealedColumn
from webapp.vault import KeyRing, KeySource, VaultError

BATCH_ROWS = 500  # one batch: a few milliseconds of SQLite's write lock
MIN_PAUSE = 0.01  # seconds the write lock stays free between batches (SQLite)
MAX_PASSES = 20  # rows that keep changing under an old key: an app with a stale ring
CHECKPOINT_TRIES = 100  # × 0.1 s waiting for readers to let go of the WAL


class RotationError(RuntimeError):
    """Rotation cannot finish; nothing written so far is lost and a re-run resumes."""


@dataclass
class Report:
    """What a rotation did."""

    key_id: str
    added_key: bool
    counts: Counter[str]
    unused_keys: set[str]
    removed_keys: set[str] = field(default_factory=set)
    scrubbed: str = ""
    from_env: bool = False

    def summary(self) -> str:
        """Human-readable lines for the operator."""
        lines = [f"Active key: {self.key_id}" + (" (new)" if self.added_key else "")]
        for what, n in sorted(self.counts.items()):
            lines.append(f"  re-encrypted {n} {what}")
        if self.scrubbed:
            lines.append(self.scrubbed)
        if self.removed_keys:
            lines.append(f"Removed {', '.join(sorted(self.removed_keys))} from the key file.")
        elif self.unused_keys:
            names = ", ".join(sorted(self.unused_keys))
            lines.append(f"No secret uses {names} any more.")
            if self.from_env:
                lines.append(f"Remove {names} from AUTOTRADER_MASTER_KEYS and restart the app.")
            else:
                lines.append("Run again with --remove-old to drop them from the key file.")
        return "\n".join(lines)


def _table(sealed: SealedColumn) -> TableClause:
    names = {sealed.primary_key, *sealed.bound_ids, sealed.column}
    if sealed.digest:
        names.add(sealed.digest[0])
    return table(sealed.table, *(column(n) for n in sorted(names)))


def _stale(sealed: SealedColumn, ring: KeyRing) -> ColumnElement[bool]:
    """Rows of ``sealed`` whose ciphertext is not under the active key."""
    value: ColumnClause[str] = column(sealed.column)
    prefix = f"{CIPHERTEXT_PREFIX}{ring.active_id}."
    # substr, not LIKE: key ids may contain "_", a LIKE wildcard.
    return and_(value.is_not(None), func.substr(value, 1, len(prefix)) != prefix)


def _resealed(ring: KeyRing, sealed: SealedColumn, row: Row[Any]) -> dict[str, object]:
    """Bind parameters for the compare-and-set UPDATE of one row read."""
    data = row._mapping
    bound = sealed.bound_to(*(data[c] for c in sealed.bound_ids))
    try:
        plain = ring.decrypt(data[sealed.column], bound)
    except VaultError as exc:
        raise RotationError(
            f"{sealed.name} of row {data[sealed.primary_key]} cannot be decrypted with "
            f"the keys in the ring ({exc}); rows moved so far are safe"
        ) from exc
    params = {"b_pk": data[sealed.primary_key], "b_old": data[sealed.column]}
    params["b_new"] = ring.encrypt(plain, bound)
    if sealed.digest:
        params["b_digest"] = ring.digest(sealed.digest[1], plain.decode("utf-8"))
    return params


def _compare_and_set(t: TableClause, sealed: SealedColumn) -> Update:
    """UPDATE one row to its new ciphertext (and digest) only if it still holds the old."""
    pk, value = t.c[sealed.primary_key], t.c[sealed.column]
    values: dict[str, BindParameter[Any]] = {sealed.column: bindparam("b_new")}
    if sealed.digest:
        values[sealed.digest[0]] = bindparam("b_digest")
    unchanged = and_(pk == bindparam("b_pk"), value == bindparam("b_old"))
    return update(t).where(unchanged).values(values)


async def _write_batch(
    engine: AsyncEngine,
    statement: Update,
    changes: list[dict[str, object]],
    on_row: Callable[[], None] | None,
) -> int:
    """One short transaction; returns how many rows it changed."""
    async with engine.begin() as conn:
        if on_row:
            for _ in changes:
                on_row()
        if conn.dialect.name == "sqlite":
            # One executemany: the write lock is held for the UPDATEs alone, and
            # SQLite reports the total of rows changed.
            return (await conn.execute(statement, changes)).rowcount
        moved = 0
        for params in changes:  # asyncpg's executemany reports no row counts
            moved += (await conn.execute(statement, params)).rowcount
        return moved


async def _move_column(
    engine: AsyncEngine, ring: KeyRing, sealed: SealedColumn, on_row: Callable[[], None] | None
) -> int:
    """Move every row of one column to the active key; returns how many were written."""
    t = _table(sealed)
    pk = t.c[sealed.primary_key]
    statement = _compare_and_set(t, sealed)
    moved = 0
    for _ in range(MAX_PASSES):
        found, last = 0, None
        while True:
            query = select(t).where(_stale(sealed, ring)).order_by(pk).limit(BATCH_ROWS)
            if last is not None:
                query = query.where(pk > last)
            async with engine.connect() as conn:  # a read: no write lock
                rows = (await conn.execute(query)).all()
            if not rows:
                break
            found += len(rows)
            last = rows[-1]._mapping[sealed.primary_key]
            # Encrypt before the transaction starts: the write lock covers only UPDATEs.
            changes = [_resealed(ring, sealed, row) for row in rows]
            started = time.monotonic()
            moved += await _write_batch(engine, statement, changes, on_row)
            if engine.dialect.name == "sqlite":
                # SQLite has one write lock and waiting writers poll for it: leave it
                # free at least as long as a batch held it, so the app's writes get in.
                await asyncio.sleep(max(time.monotonic() - started, MIN_PAUSE))
        if not found:
            return moved
    raise RotationError(
        f"rows of {sealed.name} kept changing under an older key for {MAX_PASSES} passes; "
        "is an app running with an old key ring? Restart it, then run rotate-keys again"
    )


async def move_all(
    engine: AsyncEngine, ring: KeyRing, on_row: Callable[[], None] | None = None
) -> Counter[str]:
    """Re-encrypt every registered column under the ring's active key; counts per column."""
    counts: Counter[str] = Counter()
    for sealed in ALL:
        moved = await _move_column(engine, ring, sealed, on_row)
        if moved:
            counts[sealed.name] = moved
    return counts


async def key_ids_in_use(engine: AsyncEngine, ring: KeyRing) -> set[str]:
    """The ids of the ring's keys that seal at least one stored value."""
    used: set[str] = set()
    async with engine.connect() as conn:
        for kid in ring.key_ids:
            prefix = f"{CIPHERTEXT_PREFIX}{kid}."
            for sealed in ALL:
                under = func.substr(column(sealed.column), 1, len(prefix)) == prefix
                one = select(literal(1)).select_from(table(sealed.table)).where(under).limit(1)
                if await conn.scalar(one) is not None:
                    used.add(kid)
                    break
    return used


def _secure_delete(dbapi_connection: DBAPIConnection, _record: object) -> None:
    # Space freed by rotation's own updates is zeroed, not left holding old ciphertext.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _engine(settings: Settings) -> AsyncEngine:
    engine = database.make_engine(settings.resolved_database_url)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _secure_delete)
    return engine


def _scrub_sqlite(path: str) -> str:
    """Rewrite the file (VACUUM) and empty the WAL, so no freed old ciphertext remains."""
    conn = sqlite3.connect(path, timeout=database.BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        conn.execute("PRAGMA secure_delete=ON")
        # Free space holds old values the app overwrote (a re-generated key, edited
        # credentials) under whatever key was active then; only a rebuild drops them.
        conn.execute("VACUUM")
        for _ in range(CHECKPOINT_TRIES):
            busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return "Rebuilt the database file (VACUUM) and emptied its WAL."
            time.sleep(0.1)  # a reader still uses the WAL; it lets go between requests
    finally:
        conn.close()
    raise RotationError("the WAL stayed in use by readers; nothing was removed — run it again")


async def scrub(engine: AsyncEngine) -> str:
    """Drop freed copies of old ciphertexts from storage as far as the database allows."""
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        if path and path != ":memory:":
            return await asyncio.to_thread(_scrub_sqlite, path)
        return ""
    names = ", ".join(sorted({s.table for s in ALL}))
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.execute(text(f"VACUUM {names}"))  # names from the registry, not input
    return (
        f"Ran VACUUM on {names}: PostgreSQL marks old row versions reusable but does not "
        "erase them (see the README)."
    )


async def rotate(
    settings: Settings, *, remove_unused: bool = False, on_row: Callable[[], None] | None = None
) -> Report:
    """Move every secret to the active key; adds a key first (key file) unless a
    rotation is unfinished or ``remove_unused``, which then drops the keys nothing uses."""
    source = KeySource(settings.master_keys, settings.data_dir)
    engine = _engine(settings)
    try:
        await schema.ensure_current(engine)
        async with rotation_lock(settings.data_dir, engine):
            # A new key only when the last rotation finished (every value is under the
            # active key); --remove-old never adds one, it finishes and cleans up.
            added = not remove_unused and not source.from_env
            if added and await key_ids_in_use(engine, source.ring()) <= {source.ring().active_id}:
                source.append_key()
            else:
                added = False
            ring = source.ring()
            counts = await move_all(engine, ring, on_row)
            report = Report(ring.active_id, added, counts, set(), from_env=source.from_env)
            if remove_unused:
                report.scrubbed = await scrub(engine)
            report.unused_keys = set(ring.key_ids) - await key_ids_in_use(engine, ring)
            report.unused_keys.discard(ring.active_id)
            if remove_unused and report.unused_keys and not source.from_env:
                source.remove_keys(report.unused_keys)
                report.removed_keys = set(report.unused_keys)
            return report
    finally:
        await engine.dispose()


async def drop_unused_keys(settings: Settings) -> set[str]:
    """Finish any rotation, scrub, and remove from the key file every key nothing uses."""
    if settings.master_keys.strip():
        raise ValueError("keys come from AUTOTRADER_MASTER_KEYS: remove old ones there")
    return (await rotate(settings, remove_unused=True)).removed_keys
