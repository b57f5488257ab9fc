"""Security events: what happened to an account, when and from where; never a secret."""

from __future__ import annotations

import logging

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.models import SecurityEvent

log = logging.getLogger("webapp.security")


async def record(
    session: AsyncSession,
    kind: str,
    now: float,
    *,
    user_id: int | None,
    ip: str = "",
    user_agent: str = "",
    detail: str = "",
) -> None:
    """Store one event and log it (kind, user id, address; no values)."""
    session.add(
        SecurityEvent(
            user_id=user_id,
            at=now,
            kind=kind,
            ip=ip[:64],
            user_agent=user_agent[:256],
            detail=detail[:256],
        )
    )
    log.info("security event %s user=%s ip=%s %s", kind, user_id, ip, detail)


async def recent(session: AsyncSession, user_id: int, limit: int = 20) -> list[SecurityEvent]:
    """The user's newest events."""
    result = await session.exec(
        select(SecurityEvent)
        .where(SecurityEvent.user_id == user_id)
        .order_by(col(SecurityEvent.at).desc(), col(SecurityEvent.id).desc())
        .limit(limit)
    )
    return list(result.all())
