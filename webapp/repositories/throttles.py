"""Throttle counters: atomic statements over the ``throttles`` table.

Each statement is a single ``INSERT … ON CONFLICT … RETURNING`` or ``UPDATE``, so
workers counting at once cannot lose a count (SQLite 3.35+ and PostgreSQL run them).
The rules (thresholds, lock lengths) live in :mod:`webapp.security.throttle`.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.db import run_sql
from webapp.models import Throttle

# Count the attempt, only while unlocked: the WHERE makes a locked key return no row,
# atomically, so concurrent attempts cannot slip past a lock.
_COUNT = text(
    """
    INSERT INTO throttles (key, failures, window_start, locked_until)
    VALUES (:key, 1, :now, 0)
    ON CONFLICT (key) DO UPDATE SET
      failures = CASE WHEN throttles.window_start < :stale THEN 1
                      ELSE throttles.failures + 1 END,
      window_start = CASE WHEN throttles.window_start < :stale THEN :now
                          ELSE throttles.window_start END
    WHERE throttles.locked_until <= :now
    RETURNING failures, window_start
    """
)
_LOCK = text("UPDATE throttles SET locked_until = :until WHERE key = :key")
_GIVE_BACK = text(
    """
    UPDATE throttles SET failures = failures - 1,
      locked_until = CASE WHEN failures - 1 < :threshold THEN 0 ELSE locked_until END
    WHERE key = :key AND failures > 0
    """
)


async def get(session: AsyncSession, key: str) -> Throttle | None:
    """The counter behind ``key``, if any."""
    return await session.get(Throttle, key)


async def count_unless_locked(
    session: AsyncSession, key: str, now: float, stale: float
) -> tuple[int, float] | None:
    """Add one to ``key`` (restarting a window older than ``stale``); None if locked."""
    row = (await run_sql(session, _COUNT, {"key": key, "now": now, "stale": stale})).first()
    return None if row is None else (int(row[0]), float(row[1]))


async def lock(session: AsyncSession, key: str, until: float) -> None:
    """Lock ``key`` until the time ``until``."""
    await run_sql(session, _LOCK, {"until": until, "key": key})


async def give_back(session: AsyncSession, key: str, threshold: int) -> None:
    """Take one count off ``key`` (unlocking it below ``threshold``); drop it at zero."""
    await run_sql(session, _GIVE_BACK, {"key": key, "threshold": threshold})
    await run_sql(
        session, text("DELETE FROM throttles WHERE key = :key AND failures <= 0"), {"key": key}
    )


async def delete(session: AsyncSession, key: str) -> None:
    """Forget ``key``."""
    await run_sql(session, text("DELETE FROM throttles WHERE key = :key"), {"key": key})


async def prune(session: AsyncSession, now: float, stale: float) -> int:
    """Drop unlocked counters whose window started before ``stale``; how many went."""
    result = await run_sql(
        session,
        text("DELETE FROM throttles WHERE locked_until <= :now AND window_start < :stale"),
        {"now": now, "stale": stale},
    )
    return result.rowcount or 0
