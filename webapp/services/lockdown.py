"""Lock-down: suspend every API key, end every session, freeze reveals; and unlock.

Locking only ever takes access away, so it needs no step-up: being signed in, or
holding an unused lock link from an alert, is enough. Unlocking gives access back,
so it needs the password and, when enrolled, the second factor in that request.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.alerts.compose import LOCK_SECONDS
from webapp.context import AppContext
from webapp.repositories import events, mail, users
from webapp.repositories import sessions as records
from webapp.security.policy import Action
from webapp.services.actor import Actor


async def lock(ctx: AppContext, user_id: int, ip: str, agent: str, how: str) -> int:
    """Lock the account (again, if it was); returns how many sessions ended."""
    async with ctx.db() as db:
        ended = await _lock(db, ctx, user_id, ip, agent, how)
        await db.commit()
    return ended


async def _lock(
    db: AsyncSession, ctx: AppContext, user_id: int, ip: str, agent: str, how: str
) -> int:
    now = ctx.now()
    user = await users.by_id(db, user_id)
    assert user is not None
    if user.locked_at is None:
        user.locked_at = now
        db.add(user)
    ended = await records.revoke_all(db, user_id, now)
    detail = f"{how}; {ended} session{'s' if ended != 1 else ''} ended"
    await events.record(
        db, "account_locked", now, user_id=user_id, ip=ip, user_agent=agent, detail=detail
    )
    return ended


async def lock_with_link(ctx: AppContext, token: str, ip: str, agent: str) -> bool:
    """Spend a lock link and lock its account; False when the link is not (or no
    longer) valid. Token and lock commit together: a link locks exactly once."""
    now = ctx.now()
    async with ctx.db() as db:
        row = await mail.find_token(db, token, "lock", now, LOCK_SECONDS)
        if row is None or not await mail.use_token(db, row, now):
            await db.rollback()
            return False
        await _lock(db, ctx, row.user_id, ip, agent, "with the link in an alert")
        await db.commit()
    return True


async def link_is_valid(ctx: AppContext, token: str) -> bool:
    """Whether a lock link would still work (for the page that asks to confirm)."""
    async with ctx.db() as db:
        row = await mail.find_token(db, token, "lock", ctx.now(), LOCK_SECONDS)
    return row is not None


async def lock_now(actor: Actor) -> int:
    """ "Lock everything now" from the Security page (this session ends too)."""
    return await lock(actor.ctx, actor.user_id, actor.ip, actor.agent, "from the Security page")


async def unlock(actor: Actor) -> None:
    """Lift the lock-down after a fresh password (and code) proof; keys work again."""
    actor.require(Action.UNLOCK)
    ctx = actor.ctx
    async with ctx.db() as db:
        user = await users.by_id(db, actor.user_id)
        assert user is not None
        if user.locked_at is None:
            return
        user.locked_at = None
        db.add(user)
        await actor.note(db, "account_unlocked")
        await db.commit()
