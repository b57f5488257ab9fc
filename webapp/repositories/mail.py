"""The mail outbox and the single-use link tokens its messages carry."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.models import MailOutbox, MailToken, trail

TOKEN_BYTES = 32
TOKEN_LENGTH = 43  # token_urlsafe(32) without padding


def new_id() -> str:
    """A random id for an outbox row (also part of its recipient's associated data)."""
    return secrets.token_hex(16)


def enqueue(
    session: AsyncSession,
    user_id: int,
    kind: str,
    at: float,
    *,
    ip: str = "",
    user_agent: str = "",
    detail: str = "",
    recipient: str | None = None,
    mail_id: str | None = None,
) -> MailOutbox:
    """Add a message to send in the caller's unit of work: it goes only if that commits."""
    row = MailOutbox(
        id=mail_id or new_id(),
        user_id=user_id,
        kind=kind,
        at=at,
        **trail(ip, user_agent, detail),
        recipient=recipient,
        next_at=at,
    )
    session.add(row)
    return row


async def due(session: AsyncSession, now: float, limit: int) -> list[MailOutbox]:
    """Messages waiting whose next attempt is due, oldest first."""
    result = await session.exec(
        select(MailOutbox)
        .where(
            col(MailOutbox.sent_at).is_(None),
            col(MailOutbox.gave_up_at).is_(None),
            col(MailOutbox.next_at) <= now,
        )
        .order_by(col(MailOutbox.next_at))
        .limit(limit)
    )
    return list(result.all())


async def claim(session: AsyncSession, row: MailOutbox, until: float) -> bool:
    """Take a message for one attempt (moves its next attempt to ``until``); False when
    another worker took it first."""
    result = await session.exec(
        update(MailOutbox)
        .where(
            col(MailOutbox.id) == row.id,
            col(MailOutbox.next_at) == row.next_at,
            col(MailOutbox.sent_at).is_(None),
        )
        .values(next_at=until, attempts=MailOutbox.attempts + 1)
    )
    return (result.rowcount or 0) == 1


async def settle(
    session: AsyncSession,
    mail_id: str,
    *,
    sent_at: float | None = None,
    retry_at: float | None = None,
    gave_up_at: float | None = None,
    error: str = "",
) -> None:
    """Record how an attempt ended: sent, to retry at a time, or given up."""
    values: dict[str, object] = {"error": error[:200]}
    if sent_at is not None:
        values["sent_at"] = sent_at
    if retry_at is not None:
        values["next_at"] = retry_at
    if gave_up_at is not None:
        values["gave_up_at"] = gave_up_at
    await session.exec(update(MailOutbox).where(col(MailOutbox.id) == mail_id).values(**values))


async def queued_since(session: AsyncSession, user_id: int, kind: str, since: float) -> bool:
    """Whether a message of ``kind`` for the user was queued at or after ``since``."""
    result = await session.exec(
        select(MailOutbox.id)
        .where(
            MailOutbox.user_id == user_id,
            MailOutbox.kind == kind,
            col(MailOutbox.at) >= since,
        )
        .limit(1)
    )
    return result.first() is not None


async def for_user(session: AsyncSession, user_id: int) -> list[MailOutbox]:
    """Every message of a user, oldest first (tests and the admin's eye)."""
    result = await session.exec(
        select(MailOutbox).where(MailOutbox.user_id == user_id).order_by(col(MailOutbox.at))
    )
    return list(result.all())


def digest(token: str) -> str:
    """How a link token is stored: its SHA-256 (the token is random, so no key needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def mint(session: AsyncSession, purpose: str, user_id: int, mail_id: str, now: float) -> str:
    """A new single-use link token; only its hash is kept."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        MailToken(
            digest=digest(token), purpose=purpose, user_id=user_id, mail_id=mail_id, created_at=now
        )
    )
    return token


def well_formed(token: str) -> bool:
    """Whether ``token`` could be one of ours (checked before any query)."""
    return (
        len(token) == TOKEN_LENGTH
        and token.isascii()
        and all(c.isalnum() or c in "-_" for c in token)
    )


async def find_token(
    session: AsyncSession, token: str, purpose: str, now: float, max_age: float
) -> MailToken | None:
    """The unused, unexpired token of this purpose, if ``token`` is one."""
    if not well_formed(token):
        return None
    row = await session.get(MailToken, digest(token))
    if row is None or row.purpose != purpose or row.used_at is not None:
        return None
    if not 0 <= now - row.created_at <= max_age:
        return None
    return row


async def use_token(session: AsyncSession, row: MailToken, now: float) -> bool:
    """Spend a token; False when a concurrent request spent it first."""
    result = await session.exec(
        update(MailToken)
        .where(col(MailToken.digest) == row.digest, col(MailToken.used_at).is_(None))
        .values(used_at=now)
    )
    return (result.rowcount or 0) == 1


async def prune(session: AsyncSession, older_than: float) -> int:
    """Delete messages done before ``older_than`` and tokens made before it; returns
    how many messages went (their links have expired by then)."""
    done = col(MailOutbox.sent_at).is_not(None) | col(MailOutbox.gave_up_at).is_not(None)
    result = await session.exec(delete(MailOutbox).where(done, col(MailOutbox.at) < older_than))
    await session.exec(delete(MailToken).where(col(MailToken.created_at) < older_than))
    return result.rowcount or 0
