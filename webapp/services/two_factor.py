"""Two-factor authentication: set-up, confirmation, switches, recovery codes, removal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.models import User, id_of
from webapp.repositories import sessions as records
from webapp.repositories import two_factor, users
from webapp.security import codes
from webapp.security.outcome import Outcome
from webapp.security.policy import Action
from webapp.services.actor import Actor
from webapp.vault import KeyRing

ALREADY_ENROLLED = "Two-factor authentication is already set up."
SETUP_EXPIRED = "Set-up expired. Start again."


async def _load(db: AsyncSession, actor: Actor) -> User:
    user = await users.by_id(db, actor.user_id)
    assert user is not None  # the actor's session was just checked
    return user


async def start(actor: Actor) -> User:
    """Start (or resume) set-up with a pending secret; the user as it now is."""
    async with actor.ctx.db() as db:
        user = await _load(db, actor)
        if not user.has_totp:
            two_factor.start(actor.ctx.keys, user, actor.ctx.now())
            db.add(user)
            await db.commit()
    return user


async def cancel(actor: Actor) -> User:
    """Abandon a pending set-up."""
    async with actor.ctx.db() as db:
        user = await _load(db, actor)
        two_factor.cancel(user)
        db.add(user)
        await db.commit()
    return user


@dataclass(frozen=True)
class Confirmed:
    """The result of confirming set-up: the user, new recovery codes, or a failure."""

    user: User
    outcome: Outcome
    codes: list[str] | None = None


async def confirm(actor: Actor, code: str) -> Confirmed:
    """Enrol with a code from the pending secret; other sessions end."""
    ctx = actor.ctx
    async with ctx.db() as db:
        user = await _load(db, actor)
    if user.has_totp:
        return Confirmed(user, Outcome.fail(409, ALREADY_ENROLLED))
    actor.require(Action.ENROL_2FA, user)
    secret = two_factor.pending_secret(ctx.keys, user, ctx.now())
    if secret is None:
        return Confirmed(user, Outcome.fail(409, SETUP_EXPIRED))
    outcome = await codes.check(ctx, user, code, actor.ip, actor.agent, pending=secret)
    if not outcome.ok:
        return Confirmed(user, outcome)
    async with ctx.db() as db:
        user = await _load(db, actor)
        if user.has_totp:  # a concurrent confirmation won
            return Confirmed(user, Outcome.fail(409, ALREADY_ENROLLED))
        new_codes = await two_factor.confirm(db, ctx.keys, user, secret, user.totp_last_step or 0)
        await records.revoke_all(db, id_of(user), ctx.now(), keep=actor.record_id)
        await actor.note(db, "2fa_enrolled")
        await db.commit()
    return Confirmed(user, outcome, new_codes)


Apply = Callable[[AsyncSession, KeyRing, User], Awaitable[list[str] | None]]


def _switch(attr: str, value: bool) -> Apply:
    async def apply(db: AsyncSession, keys: KeyRing, user: User) -> None:
        setattr(user, attr, value)
        db.add(user)

    return apply


async def _recovery(db: AsyncSession, keys: KeyRing, user: User) -> list[str]:
    return await two_factor.new_recovery_codes(db, keys, user)


async def _remove(db: AsyncSession, keys: KeyRing, user: User) -> None:
    await two_factor.remove(db, user)


# Each change: what it does and the event it leaves.
CHANGES: dict[str, tuple[Apply, str]] = {
    "login-on": (_switch("login_2fa", True), "login_2fa_on"),
    "login-off": (_switch("login_2fa", False), "login_2fa_off"),
    "credentials-on": (_switch("credentials_2fa", True), "credentials_2fa_on"),
    "credentials-off": (_switch("credentials_2fa", False), "credentials_2fa_off"),
    "recovery-codes": (_recovery, "recovery_codes_regenerated"),
    "remove": (_remove, "2fa_removed"),
}


class NotEnrolled(Exception):
    """A 2FA change was asked of a user without 2FA."""


async def change(actor: Actor, name: str) -> tuple[User, list[str] | None]:
    """Apply one 2FA change after a fresh password-and-code proof; other sessions end."""
    apply, event = CHANGES[name]
    ctx = actor.ctx
    async with ctx.db() as db:
        user = await _load(db, actor)
        if not user.enrolled:
            raise NotEnrolled(name)
        actor.require(Action.CHANGE_2FA, user)
        shown = await apply(db, ctx.keys, user)
        ended = await records.revoke_all(db, actor.user_id, ctx.now(), keep=actor.record_id)
        await actor.note(db, event, f"{ended} other sessions ended")
        await db.commit()
    return user, shown
