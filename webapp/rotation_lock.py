"""One ``rotate-keys`` at a time: a file lock in the data directory, and on PostgreSQL
an advisory lock too (operators on two machines share one database, not one folder)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

LOCK_FILE_NAME = "rotate-keys.lock"
ADVISORY_KEY = 0x61745F726F74  # "at_rot": an arbitrary constant shared by every run
BUSY_MESSAGE = "Another rotate-keys is running on this database; let it finish, then run again."


class RotationBusy(RuntimeError):
    """Another rotation holds the lock."""


@contextlib.asynccontextmanager
async def rotation_lock(data_dir: Path, engine: AsyncEngine) -> AsyncIterator[None]:
    """Hold the rotation lock for the block, or raise :class:`RotationBusy` at once."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_FILE_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise RotationBusy(BUSY_MESSAGE) from exc
        # The file is never deleted: removing a lock file lets a third run lock a new
        # inode while the second still holds the old one. The kernel frees the lock
        # when this process ends, however it ends.
        if engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                try_lock = text("SELECT pg_try_advisory_lock(:k)")
                got = await conn.scalar(try_lock, {"k": ADVISORY_KEY})
                await conn.commit()
                if not got:
                    raise RotationBusy(BUSY_MESSAGE)
                try:
                    yield
                finally:
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
                    await conn.commit()
        else:
            yield
    finally:
        os.close(fd)  # releases the flock
