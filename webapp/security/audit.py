"""Record a security event for the user of a request (time, address, browser)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request

from webapp.context import get_ctx
from webapp.repositories import events
from webapp.security.sessions import client_ip, user_agent


async def note(
    db: AsyncSession, request: Request, kind: str, user_id: int | None, detail: str = ""
) -> None:
    """Add an event for ``user_id`` seen from this request; the caller commits."""
    await events.record(
        db,
        kind,
        get_ctx(request).now(),
        user_id=user_id,
        ip=client_ip(request),
        user_agent=user_agent(request),
        detail=detail,
    )
