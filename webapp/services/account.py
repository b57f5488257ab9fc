"""The account's password and sessions."""

from __future__ import annotations

from webapp import activity
from webapp.repositories import sessions as records
from webapp.repositories import users
from webapp.security.policy import Action
from webapp.services.actor import Actor


async def change_password(actor: Actor, new_hash: str) -> int:
    """Store the new password hash and end every other session; returns how many ended."""
    actor.require(Action.CHANGE_PASSWORD)
    ctx = actor.ctx
    async with ctx.db() as db:
        user = await users.by_id(db, actor.user_id)
        assert user is not None
        user.password_hash = new_hash
        user.password_changed_at = ctx.now()
        db.add(user)
        ended = await records.revoke_all(db, actor.user_id, ctx.now(), keep=actor.record_id)
        await actor.note(db, "password_changed", f"{ended} other sessions ended")
        await db.commit()
    return ended


async def sign_out_others(actor: Actor) -> int:
    """End every session of the user but this one; returns how many ended.

    Signing others out only ever takes access away, so being signed in is enough.
    """
    async with actor.ctx.db() as db:
        ended = await records.revoke_all(db, actor.user_id, actor.ctx.now(), keep=actor.record_id)
        await actor.note(db, "other_sessions_signed_out", f"{ended} sessions")
        await db.commit()
    return ended


async def sign_out_one(actor: Actor, record_id: str) -> bool:
    """End one of the user's other sessions; False when it had already ended."""
    async with actor.ctx.db() as db:
        record = await records.get(db, record_id)
        if record is None or record.user_id != actor.user_id or record.revoked_at is not None:
            return False
        await records.revoke(db, record_id, actor.ctx.now())
        await actor.note(db, "session_signed_out", activity.browser(record.user_agent))
        await db.commit()
    return True
