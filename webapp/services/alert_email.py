"""The alert address: request a change (step-up), confirm it by link, alert switches."""

from __future__ import annotations

import enum

from webapp.alerts import address, catalog
from webapp.alerts.compose import CONFIRM_SECONDS
from webapp.context import AppContext
from webapp.models import MailOutbox, id_of
from webapp.repositories import events, mail, users
from webapp.security.policy import Action
from webapp.services.actor import Actor


async def request_change(actor: Actor, new_address: str) -> None:
    """Keep ``new_address`` as pending and queue the message that confirms it."""
    actor.require(Action.CHANGE_EMAIL)
    ctx = actor.ctx
    now = ctx.now()
    async with ctx.db() as db:
        user = await users.by_id(db, actor.user_id)
        assert user is not None
        user.email_pending = address.seal(ctx.keys, new_address, "users", user.id, "email_pending")
        user.email_pending_at = now
        db.add(user)
        mail_id = mail.new_id()
        sealed = address.seal(ctx.keys, new_address, "mail_outbox", mail_id, "recipient")
        mail.enqueue(
            db,
            actor.user_id,
            catalog.CONFIRM_KIND,
            now,
            ip=actor.ip,
            user_agent=actor.agent,
            recipient=sealed,
            mail_id=mail_id,
        )
        await actor.note(db, "email_confirmation_sent", address.masked(new_address))
        await db.commit()


async def link_is_valid(ctx: AppContext, token: str) -> bool:
    """Whether a confirmation link would still work (for the page that asks first)."""
    async with ctx.db() as db:
        row = await mail.find_token(db, token, "confirm", ctx.now(), CONFIRM_SECONDS)
    return row is not None


class Confirmed(enum.Enum):
    """How following a confirmation link ended."""

    DONE = "done"
    INVALID = "invalid"  # unknown, used or expired
    REPLACED = "replaced"  # another address was asked for since


async def confirm(ctx: AppContext, token: str, ip: str, agent: str) -> Confirmed:
    """Make the pending address the alert address; the old one hears about it."""
    now = ctx.now()
    keys = ctx.keys
    async with ctx.db() as db:
        row = await mail.find_token(db, token, "confirm", now, CONFIRM_SECONDS)
        if row is None:
            return Confirmed.INVALID
        user = await users.by_id(db, row.user_id)
        sent = await db.get(MailOutbox, row.mail_id)
        if user is None or sent is None or sent.recipient is None:
            return Confirmed.INVALID
        mailed = address.open_sealed(keys, sent.recipient, "mail_outbox", sent.id, "recipient")
        pending = address.of_user(keys, id_of(user), user.email_pending, "email_pending")
        if pending != mailed:
            return Confirmed.REPLACED
        if not await mail.use_token(db, row, now):
            await db.rollback()
            return Confirmed.INVALID
        old = address.of_user(keys, id_of(user), user.email)
        user.email = address.seal(keys, pending, "users", user.id, "email")
        user.email_pending = None
        user.email_pending_at = None
        db.add(user)
        who: events.Who = {"user_id": user.id, "ip": ip, "user_agent": agent}
        if old and old != pending:
            mail_id = mail.new_id()
            sealed_old = address.seal(keys, old, "mail_outbox", mail_id, "recipient")
            mail.enqueue(
                db,
                id_of(user),
                catalog.OLD_ADDRESS_KIND,
                now,
                ip=ip,
                user_agent=agent,
                detail=f"new address {address.masked(pending)}",
                recipient=sealed_old,
                mail_id=mail_id,
            )
            await events.record(db, "email_changed", now, detail=address.masked(pending), **who)
        elif not old:
            await events.record(db, "email_added", now, detail=address.masked(pending), **who)
        else:
            await events.record(db, "email_confirmed", now, detail=address.masked(pending), **who)
        await db.commit()
    return Confirmed.DONE


async def set_switches(actor: Actor, wanted: dict[str, bool]) -> None:
    """Turn informational alerts on or off (security-critical ones have no switch)."""
    async with actor.ctx.db() as db:
        user = await users.by_id(db, actor.user_id)
        assert user is not None
        for column, on in wanted.items():
            if column in catalog.SWITCHES:
                setattr(user, column, on)
        db.add(user)
        off = [catalog.SWITCHES[c] for c in catalog.SWITCHES if not getattr(user, c)]
        await actor.note(db, "alert_settings_changed", f"off: {', '.join(off) or 'none'}")
        await db.commit()
