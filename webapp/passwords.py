"""argon2id hashing and verification in worker threads, never on the event loop."""

from __future__ import annotations

import asyncio
import os

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# RFC 9106's "low memory" profile (argon2-cffi's default): above OWASP's minimums
# (19 MiB, t=2). 64 MiB per hash, so the semaphore below bounds memory too.
HASHER = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4, type=Type.ID)


class Passwords:
    """Hash and verify passwords in threads, at most one per CPU at a time."""

    def __init__(self, hasher: PasswordHasher = HASHER, slots: int | None = None) -> None:
        self._hasher = hasher
        self._slots = asyncio.Semaphore(slots or os.cpu_count() or 1)
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
