"""The key ring proves it opens the data before anything runs.

Every ciphertext names the key that sealed it (``v1.<key id>.…``), so the database
itself records which key ids it needs. Before the app serves or a command runs, this
module checks that every key id the data uses is in the ring and that each key opens a
few of its own ciphertexts (a wrong key with the right id opens none). A key file is
created only for an empty database: a restore that forgot ``master.key`` must stop
with a sentence, not start a second, unrelated key beside the data.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection

from webapp import db as database
from webapp import schema, sealed_columns
from webapp.config import Settings
from webapp.sealed_columns import SealedColumn
from webapp.vault import KeyRing, KeySource, VaultError

SAMPLES = 3  # ciphertexts tried per key: one tampered row must not stop the app


class KeyRingError(ValueError):
    """The keys at hand cannot open this database's secrets (the message says what to do)."""


# The columns come from the one registry (rotation and --remove-old use it too).
SEALED = sealed_columns.ALL


def _where(settings: Settings) -> str:
    if settings.master_keys.strip():
        return "AUTOTRADER_MASTER_KEYS"
    return f"the key file {settings.data_dir / 'master.key'}"


async def _tables(conn: AsyncConnection) -> set[str]:
    return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def _present(conn: AsyncConnection) -> list[SealedColumn]:
    """The sealed columns this database has (an older schema may lack some)."""

    def read(c: object) -> list[SealedColumn]:
        found = inspect(c)
        tables = set(found.get_table_names()) & {s.table for s in SEALED}
        columns = {t: {col["name"] for col in found.get_columns(t)} for t in tables}
        return [s for s in SEALED if s.column in columns.get(s.table, ())]

    return await conn.run_sync(read)


async def is_empty(conn: AsyncConnection) -> bool:
    """Whether the database holds no trader yet (so no secret either)."""
    if "users" not in await _tables(conn):
        return True
    return (await conn.execute(text("SELECT 1 FROM users LIMIT 1"))).first() is None


def _not_under(column: str, kids: list[str]) -> tuple[str, dict[str, Any]]:
    parts, params = [f"{column} IS NOT NULL"], {}
    for i, kid in enumerate(kids):
        prefix = f"v1.{kid}."
        parts.append(f"substr({column}, 1, {len(prefix)}) <> :p{i}")
        params[f"p{i}"] = prefix
    return " AND ".join(parts), params


async def find_problem(conn: AsyncConnection, ring: KeyRing, where: str) -> str | None:
    """Why ``ring`` cannot open the data behind ``conn``, or None when it can."""
    columns = await _present(conn)
    for s in columns:
        condition, params = _not_under(s.column, ring.key_ids)
        sql = f"SELECT {s.column} FROM {s.table} WHERE {condition} LIMIT 1"  # noqa: S608 (names are ours)
        found = (await conn.execute(text(sql), params)).first()
        if found is not None:
            kid = found[0].split(".")[1] if found[0].count(".") == 3 else "unknown"
            return (
                f"The database holds secrets sealed with master key {kid!r}, which is not "
                f"in {where}: put back the key file (or AUTOTRADER_MASTER_KEYS) that "
                "belongs to this database"
            )
    for kid in ring.key_ids:
        prefix = f"v1.{kid}."
        tried = opened = 0
        for s in columns:
            if tried >= SAMPLES:
                break
            sql = (
                f"SELECT {', '.join(s.bound_ids)}, {s.column} FROM {s.table} "  # noqa: S608 (names are ours)
                f"WHERE substr({s.column}, 1, {len(prefix)}) = :p LIMIT {SAMPLES - tried}"
            )
            for row in (await conn.execute(text(sql), {"p": prefix})).all():
                tried += 1
                try:
                    ring.decrypt(row[-1], s.bound_to(*row[:-1]))
                    opened += 1
                except VaultError:
                    pass
            if opened:
                break
        if tried and not opened:
            return (
                f"Master key {kid!r} in {where} does not open the secrets sealed with it "
                "(it is a different key under the same id): put back the key file (or "
                "AUTOTRADER_MASTER_KEYS) that belongs to this database"
            )
    return None


async def open_ring(settings: Settings, conn: AsyncConnection, *, create: bool) -> KeySource:
    """The proven key source; a key file is made only for an empty database and ``create``."""
    where = _where(settings)
    source = None
    try:
        source = KeySource(settings.master_keys, settings.data_dir)
    except FileNotFoundError:
        if not await is_empty(conn):
            raise KeyRingError(
                f"There is no key file at {settings.data_dir / 'master.key'} but the database "
                "already holds traders: restore master.key from where you keep it (or set "
                "AUTOTRADER_MASTER_KEYS); the app never makes a new key for existing data"
            ) from None
        if not create:
            raise KeyRingError(
                f"There is no key file at {settings.data_dir / 'master.key'}: start the app "
                "once to create one (the database is empty), or restore it"
            ) from None
        source = KeySource(settings.master_keys, settings.data_dir, create=True)
    except PermissionError as exc:
        raise KeyRingError(
            f"Cannot read {where} ({exc.strerror}): make it readable by this user only "
            "(chmod 600) and run again"
        ) from None
    except OSError as exc:
        raise KeyRingError(f"Cannot read {where} ({exc.strerror}): fix it and run again") from None
    problem = await find_problem(conn, source.ring(), where)
    if problem:
        raise KeyRingError(problem)
    return source


async def preflight(settings: Settings, *, create: bool, check_schema: bool = True) -> KeySource:
    """Check the schema (creating a brand-new database), then prove the key ring."""
    engine = database.make_engine(settings.resolved_database_url)
    try:
        if check_schema:
            await schema.ensure_current(engine)
        async with engine.connect() as conn:
            return await open_ring(settings, conn, create=create)
    finally:
        await engine.dispose()


_proven: dict[tuple[str, str, str], KeySource] = {}


def remember(settings: Settings, source: KeySource) -> None:
    """Hand a key source proven by ``serve`` to the app it starts (no second check)."""
    _proven[_identity(settings)] = source


def proven_source(settings: Settings) -> KeySource:
    """The key source for ``create_app``: handed over by ``serve``, else proven now
    (in a thread, as create_app may run inside an event loop)."""
    handed = _proven.pop(_identity(settings), None)
    if handed is not None:
        return handed
    probe = preflight(settings, create=True, check_schema=False)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, probe).result()


def _identity(settings: Settings) -> tuple[str, str, str]:
    return (settings.resolved_database_url, str(settings.data_dir), settings.master_keys)
