"""Failure counters and exponential locks, kept in the database for every worker.

An attempt is counted *before* it is checked (:func:`reserve`), then settled as
failed or succeeded; the statements are in :mod:`webapp.repositories.throttles`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.repositories import throttles as counters


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
        return min(self.base_seconds * 2.0**exponent, self.cap_seconds)

    def locked_until(self, failures: int, now: float, window_start: float) -> float:
        """When the lock after ``failures`` ends (0 for no lock)."""
        lock = self.lock_for(failures)
        if not lock:
            return 0.0
        return window_start + self.window_seconds if self.fixed_window else now + lock


# Passwords (sign-in and step-up) per account: 1 s doubling after 5, at most 15 min.
PASSWORD = Policy(threshold=5, base_seconds=1, cap_seconds=900, window_seconds=86400)


def passwords(first_lock_seconds: int) -> Policy:
    """The password policy with its first lock set (AUTOTRADER_PASSWORD_LOCK_SECONDS)."""
    base = min(float(first_lock_seconds), PASSWORD.cap_seconds)
    return Policy(PASSWORD.threshold, base, PASSWORD.cap_seconds, PASSWORD.window_seconds)


# TOTP codes per user: 30 s doubling after 5, at most 15 min.
CODE = Policy(threshold=5, base_seconds=30, cap_seconds=900, window_seconds=86400)
# Per client address: 100 failed passwords in 15 minutes, then wait for the window.
ADDRESS = Policy(
    threshold=100, base_seconds=900, cap_seconds=900, window_seconds=900, fixed_window=True
)

# How long a lock set by an attempt still being checked lasts if that attempt never
# settles (its worker died mid-check); a settled failure replaces it with the real lock.
HOLD_SECONDS = 60.0


@dataclass(frozen=True)
class Slot:
    """One counted attempt: its key, its policy and its place in the count."""

    key: str
    policy: Policy
    failures: int
    window_start: float


def registrations(per_hour: int) -> Policy:
    """Sign-ups per client address: each costs an argon2id hash, so an hourly budget."""
    return Policy(
        threshold=per_hour,
        base_seconds=3600,
        cap_seconds=3600,
        window_seconds=3600,
        fixed_window=True,
    )


def register_key(ip: str) -> str:
    """Throttle key for sign-ups from one client address."""
    return f"reg:{ip[:64]}"


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
    row = await counters.get(session, key)
    if row is None or row.locked_until <= now:
        return 0
    return max(1, math.ceil(row.locked_until - now))


async def reserve(session: AsyncSession, key: str, policy: Policy, now: float) -> Slot | int:
    """Count an attempt before checking it; the seconds to wait instead when locked.

    The attempt that reaches the threshold locks the key at once (for
    :data:`HOLD_SECONDS`, until it settles), so attempts running beside it are refused
    unchecked: N concurrent attempts check at most ``threshold`` values. The caller
    commits before the expensive check, so other workers see the count.
    """
    counted = await counters.count_unless_locked(session, key, now, now - policy.window_seconds)
    if counted is None:
        return max(1, await retry_after(session, key, now))
    failures, window_start = counted
    slot = Slot(key, policy, failures, window_start)
    if failures >= policy.threshold:
        hold = max(now + HOLD_SECONDS, policy.locked_until(failures, now, window_start))
        await counters.lock(session, key, hold)
    return slot


async def failed(session: AsyncSession, slot: Slot, now: float) -> int:
    """Settle a reserved attempt that failed; returns the lock in seconds (0 for none)."""
    until = slot.policy.locked_until(slot.failures, now, slot.window_start)
    if not until:
        return 0
    await counters.lock(session, slot.key, until)
    return max(1, math.ceil(until - now))


async def succeeded(session: AsyncSession, slot: Slot, *, reset_all: bool) -> None:
    """Settle a reserved attempt that passed: forget the key, or give its slot back."""
    if reset_all:
        await counters.delete(session, slot.key)
    else:
        await counters.give_back(session, slot.key, slot.policy.threshold)


async def record_failure(session: AsyncSession, key: str, policy: Policy, now: float) -> int:
    """Count one failure outright (no check behind it); returns the lock in seconds."""
    slot = await reserve(session, key, policy, now)
    if isinstance(slot, int):
        return slot
    return await failed(session, slot, now)


async def reset(session: AsyncSession, key: str) -> None:
    """Forget the failures behind ``key`` (after a success)."""
    await counters.delete(session, key)


async def prune(session: AsyncSession, now: float) -> int:
    """Drop counters past every policy's window and not locked (typed usernames too)."""
    longest = max(p.window_seconds for p in (PASSWORD, CODE, ADDRESS))
    return await counters.prune(session, now, now - max(longest, 3600))


def wait_message(seconds: int) -> str:
    """The words for a lock: what happened and when to try again."""
    if seconds >= 120:
        when = f"{math.ceil(seconds / 60)} minutes"
    else:
        when = f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"Too many failed attempts. Try again in {when}."
