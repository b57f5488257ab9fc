"""argon2id hashing and verification in worker threads, never on the event loop."""

from __future__ import annotations

import asyncio
import os

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# 64 MiB, t=2, one lane: above OWASP's recommendations (19 MiB with t=2, or 46 MiB with
# t=1). One lane per hash, and one hash fewer than there are CPUs at a time, so a
# sign-in flood always leaves a core to the event loop (and bounds memory at 64 MiB
# per slot).
HASHER = PasswordHasher(time_cost=2, memory_cost=65536, parallelism=1, type=Type.ID)


def default_slots() -> int:
    """Hashes allowed at once: every CPU but one (for the event loop), at least one."""
    return max(1, (os.cpu_count() or 1) - 1)


class Passwords:
    """Hash and verify passwords in threads, at most one per CPU at a time."""

    def __init__(self, hasher: PasswordHasher = HASHER, slots: int | None = None) -> None:
        self._hasher = hasher
        self._slots = asyncio.Semaphore(slots or default_slots())
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        """The argon2id PHC string for ``password``."""
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches; an unknown user verifies against a dummy hash."""
        if stored is None:
            # Same work as a real check, so timing does not tell whether the user exists.
            stored = await self._dummy_hash()
            await self._check(stored, password)
            return False
        return await self._check(stored, password)

    @property
    def dummy_hash(self) -> str | None:
        """The hash unknown users are verified against, once the first one was."""
        return self._dummy

    def needs_rehash(self, stored: str) -> bool:
        """Whether the stored hash uses other parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    async def _check(self, stored: str, password: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(self._verify_sync, stored, password)

    def _verify_sync(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = await self.hash(os.urandom(16).hex())
        return self._dummy
