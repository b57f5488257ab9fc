"""Security events: what happened to an account, when and from where; never a secret."""

from __future__ import annotations

import logging
from typing import TypedDict

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.alerts import hooks
from webapp.models import SecurityEvent, trail

log = logging.getLogger("webapp.security")


class Who(TypedDict):
    """Whose event, and from where: the keyword arguments of :func:`record`."""

    user_id: int | None
    ip: str
    user_agent: str


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
    """Store one event and log it (kind, user id, address; no values); the event's
    alert and cool-down (webapp/alerts/hooks.py) join the same unit of work."""
    event = SecurityEvent(user_id=user_id, at=now, kind=kind, **trail(ip, user_agent, detail))
    session.add(event)
    log.info("security event %s user=%s ip=%s %s", kind, user_id, ip, detail)
    await hooks.after_event(session, event)


async def recent(
    session: AsyncSession, user_id: int, limit: int = 20, before_id: int | None = None
) -> list[SecurityEvent]:
    """The user's newest events (older than ``before_id`` when paging), newest first."""
    stmt = select(SecurityEvent).where(SecurityEvent.user_id == user_id)
    if before_id is not None:
        stmt = stmt.where(col(SecurityEvent.id) < before_id)
    result = await session.exec(stmt.order_by(col(SecurityEvent.id).desc()).limit(limit))
    return list(result.all())


async def prune(session: AsyncSession, older_than: float) -> int:
    """Delete events recorded before ``older_than``; returns how many went."""
    result = await session.exec(delete(SecurityEvent).where(col(SecurityEvent.at) < older_than))
    return result.rowcount or 0
