"""Server-side session records: the cookie names one, this decides if it still lives."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.models import SessionRecord

LAST_SEEN_GRANULARITY = 60.0


async def create(
    session: AsyncSession, record_id: str, user_id: int, now: float, ip: str, user_agent: str
) -> SessionRecord:
    """Store a new signed-in session."""
    record = SessionRecord(
        id=record_id,
        user_id=user_id,
        created_at=now,
        last_seen_at=now,
        ip=ip[:64],
        user_agent=user_agent[:256],
    )
    session.add(record)
    await session.flush()
    return record


async def get(session: AsyncSession, record_id: str) -> SessionRecord | None:
    """The session record, revoked or not."""
    return await session.get(SessionRecord, record_id)


def touch(record: SessionRecord, now: float, every: float = LAST_SEEN_GRANULARITY) -> bool:
    """Move last-seen forward, at most once per ``every`` seconds (fewer writes)."""
    if now - record.last_seen_at < every:
        return False
    record.last_seen_at = now
    return True


async def revoke(session: AsyncSession, record_id: str, now: float) -> None:
    """End one session."""
    await session.exec(
        update(SessionRecord)
        .where(col(SessionRecord.id) == record_id, col(SessionRecord.revoked_at).is_(None))
        .values(revoked_at=now)
    )


async def revoke_all(
    session: AsyncSession, user_id: int, now: float, keep: str | None = None
) -> int:
    """End every live session of a user except ``keep``; returns how many ended."""
    stmt = (
        update(SessionRecord)
        .where(col(SessionRecord.user_id) == user_id, col(SessionRecord.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    if keep is not None:
        stmt = stmt.where(col(SessionRecord.id) != keep)
    result = await session.exec(stmt)
    return result.rowcount or 0


async def live_for_user(session: AsyncSession, user_id: int) -> list[SessionRecord]:
    """The user's sessions that have not been revoked, newest first."""
    result = await session.exec(
        select(SessionRecord)
        .where(SessionRecord.user_id == user_id, col(SessionRecord.revoked_at).is_(None))
        .order_by(col(SessionRecord.created_at).desc())
    )
    return list(result.all())
