"""What a security event sets off besides its record: a cool-down, an alert.

:func:`webapp.repositories.events.record` calls :func:`after_event` in the same unit
of work, so an alert is queued (and a cool-down starts) exactly when the event is
committed, whichever route or service recorded it.
"""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp import activity
from webapp.alerts import catalog
from webapp.models import SecurityEvent, User
from webapp.repositories import mail
from webapp.security import holds

NEW_SIGNIN_LOOKBACK = 200  # earlier sign-ins from the same address compared by browser
# Anyone can set these off by typing wrong passwords, again after every lock: one alert
# an hour is enough to warn, and keeps a stranger from filling the trader's inbox.
QUIET_KINDS = frozenset({"password_locked", "code_locked"})
QUIET_SECONDS = 3600.0


def _cooldown_key(event: SecurityEvent) -> str:
    if event.kind == "signin" and event.detail == holds.RECOVERY_SIGNIN:
        return "recovery_signin"
    return event.kind if event.kind in holds.COOLDOWN_REASONS else ""


async def after_event(session: AsyncSession, event: SecurityEvent) -> None:
    """Start a cool-down and queue an alert when ``event`` calls for them."""
    cooldown = _cooldown_key(event)
    if event.user_id is None or not (cooldown or event.kind in catalog.ALERTS):
        return
    user = await session.get(User, event.user_id)
    if user is None:
        return
    if cooldown:
        user.cooldown_from = event.at
        user.cooldown_reason = cooldown
        session.add(user)
    if user.email is None or not catalog.wanted(event.kind, user):
        return
    if event.kind == "signin" and not await _new_browser(session, event):
        return
    if event.kind in QUIET_KINDS and await mail.queued_since(
        session, event.user_id, event.kind, event.at - QUIET_SECONDS
    ):
        return
    mail.enqueue(
        session,
        event.user_id,
        event.kind,
        event.at,
        ip=event.ip,
        user_agent=event.user_agent,
        detail=event.detail,
    )


async def _new_browser(session: AsyncSession, event: SecurityEvent) -> bool:
    """Whether no earlier sign-in came from this address with this kind of browser."""
    await session.flush()  # gives the event its id, so it is not compared with itself
    result = await session.exec(
        select(SecurityEvent.user_agent)
        .where(
            SecurityEvent.user_id == event.user_id,
            col(SecurityEvent.kind).in_(("signin", "registered")),
            SecurityEvent.ip == event.ip,
            col(SecurityEvent.id) < (event.id or 0),
        )
        .order_by(col(SecurityEvent.id).desc())
        .limit(NEW_SIGNIN_LOOKBACK)
    )
    seen = {activity.browser(agent) for agent in result.all()}
    return activity.browser(event.user_agent) not in seen
