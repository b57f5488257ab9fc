"""Failure counters and exponential locks, kept in the database for every worker.

Increments are single ``INSERT … ON CONFLICT … RETURNING`` statements, so two workers
counting at once cannot lose a failure (SQLite 3.35+ and PostgreSQL both run them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.models import Throttle


@dataclass(frozen=True)
class Policy:
    """How many failures are free, then how long locks last."""

    threshold: int
    base_seconds: float
    cap_seconds: float
    window_seconds: float
    # A per-address limit locks until its window ends rather than growing.
    fixed_window: bool = False

    def lock_for(self, failures: int) -> float:
        """Lock length after ``failures`` failures (0 while under the threshold)."""
        if failures < self.threshold:
            return 0.0
        exponent = min(failures - self.threshold, 30)
        return min(self.base_seconds * 2**exponent, self.cap_seconds)

    def locked_until(self, failures: int, now: float, window_start: float) -> float:
        """When the lock after ``failures`` ends (0 for no lock)."""
        lock = self.lock_for(failures)
        if not lock:
            return 0.0
        return window_start + self.window_seconds if self.fixed_window else now + lock


# Passwords (sign-in and step-up) per account: 1 s doubling after 5, at most 15 min.
PASSWORD = Policy(threshold=5, base_seconds=1, cap_seconds=900, window_seconds=86400)
# TOTP codes per user: 30 s doubling after 5, at most 15 min.
CODE = Policy(threshold=5, base_seconds=30, cap_seconds=900, window_seconds=86400)
# Per client address: 100 failed passwords in 15 minutes, then wait for the window.
ADDRESS = Policy(
    threshold=100, base_seconds=900, cap_seconds=900, window_seconds=900, fixed_window=True
)

_BUMP = text(
    """
    INSERT INTO throttles (key, failures, window_start, locked_until)
    VALUES (:key, 1, :now, 0)
    ON CONFLICT (key) DO UPDATE SET
      failures = CASE WHEN throttles.window_start < :stale THEN 1
                      ELSE throttles.failures + 1 END,
      window_start = CASE WHEN throttles.window_start < :stale THEN :now
                          ELSE throttles.window_start END
    RETURNING failures, window_start
    """
)


def password_key(username: str) -> str:
    """Throttle key for an account's passwords; by name, so unknown names lock alike."""
    return f"pw:{username.lower()[:128]}"


def code_key(user_id: int) -> str:
    """Throttle key for a user's TOTP and recovery codes."""
    return f"code:{user_id}"


def address_key(ip: str) -> str:
    """Throttle key for one client address."""
    return f"ip:{ip[:64]}"


async def retry_after(session: AsyncSession, key: str, now: float) -> int:
    """Whole seconds until ``key`` is unlocked; 0 when it is not locked."""
    row = await session.get(Throttle, key)
    if row is None or row.locked_until <= now:
        return 0
    return max(1, math.ceil(row.locked_until - now))


async def record_failure(session: AsyncSession, key: str, policy: Policy, now: float) -> int:
    """Count one failure; lock when the policy says so. Returns the lock in seconds."""
    result = await session.exec(
        _BUMP, params={"key": key, "now": now, "stale": now - policy.window_seconds}
    )
    failures, window_start = result.one()
    until = policy.locked_until(failures, now, window_start)
    if not until:
        return 0
    await session.exec(
        text("UPDATE throttles SET locked_until = :until WHERE key = :key"),
        params={"until": until, "key": key},
    )
    return math.ceil(until - now)


async def reset(session: AsyncSession, key: str) -> None:
    """Forget the failures behind ``key`` (after a success)."""
    await session.exec(text("DELETE FROM throttles WHERE key = :key"), params={"key": key})


def wait_message(seconds: int) -> str:
    """The words for a lock: what happened and when to try again."""
    if seconds >= 120:
        when = f"{math.ceil(seconds / 60)} minutes"
    else:
        when = f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"Too many failed attempts. Try again in {when}."
