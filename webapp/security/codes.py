"""Check a user's 6-digit TOTP code or recovery code: throttled, and each works once."""

from __future__ import annotations

import hmac

from sqlmodel.ext.asyncio.session import AsyncSession

from webapp import totp
from webapp.context import AppContext
from webapp.models import User, id_of
from webapp.repositories import events, two_factor
from webapp.sealed_columns import USER_RECOVERY_KEY, USER_TOTP_SECRET
from webapp.security import throttle
from webapp.security.outcome import OK, Outcome

REPLAY_MESSAGE = "This code was already used — wait for the next one."
WRONG_MESSAGE = "That code is not correct. Check your authenticator app and try again."


def totp_secret(ctx: AppContext, user: User) -> str:
    """The user's confirmed TOTP secret, decrypted."""
    assert user.totp_secret is not None
    return ctx.keys.decrypt_text(user.totp_secret, USER_TOTP_SECRET.bound_to(user.id))


def recovery_key(ctx: AppContext, user: User) -> bytes:
    """The user's key for hashing recovery codes, decrypted."""
    assert user.recovery_key is not None
    return ctx.keys.decrypt(user.recovery_key, USER_RECOVERY_KEY.bound_to(user.id))


async def check(
    ctx: AppContext,
    user: User,
    raw: str,
    ip: str,
    agent: str,
    *,
    pending: str | None = None,
) -> Outcome:
    """Accept a current, unused code for ``user``; count first, then check, then settle.

    With ``pending`` (a secret being set up) only a TOTP code for it is accepted. The
    attempt is counted in its own committed transaction before the check (see
    :func:`throttle.reserve`); an accepted code is claimed atomically, so it works once.
    """
    now = ctx.now()
    key = throttle.code_key(id_of(user))
    parsed = totp.parse_code(raw)
    async with ctx.db() as db:
        if parsed is None or (pending is not None and parsed[0] != "totp"):
            # A malformed code costs no check and is not counted; a lock still shows.
            wait = await throttle.retry_after(db, key, now)
            if wait:
                return Outcome.fail(429, throttle.wait_message(wait), "code")
            if parsed is None:
                return Outcome.fail(422, totp.CODE_SHAPE_MESSAGE, "code")
            return Outcome.fail(422, "Enter the 6-digit code your authenticator app shows.", "code")
        slot = await throttle.reserve(db, key, throttle.CODE, now)
        if isinstance(slot, int):
            await db.rollback()
            return Outcome.fail(429, throttle.wait_message(slot), "code")
        await db.commit()
    kind, code = parsed
    who: events.Who = {"user_id": user.id, "ip": ip, "user_agent": agent}
    async with ctx.db() as db:
        if kind == "totp":
            secret = pending if pending is not None else _secret_or_none(ctx, user)
            outcome = await _check_totp(db, user, secret, code, now)
        else:
            outcome = await _check_recovery(db, ctx, user, code, now)
        if outcome.ok:
            await throttle.succeeded(db, slot, reset_all=True)
            if kind == "recovery":
                left = await two_factor.recovery_codes_left(db, id_of(user))
                detail = f"{left} recovery code{'s' if left != 1 else ''} left"
                await events.record(db, "recovery_code_used", now, **who, detail=detail)
            await db.commit()
            return outcome
        replay = outcome.message == REPLAY_MESSAGE
        event = "code_replay_refused" if replay else "code_failed"
        lock = await settle_refusal(db, slot, now, event, who)
        await db.commit()
    if lock:
        return Outcome.fail(429, throttle.wait_message(lock), "code")
    return outcome


async def settle_refusal(
    db: AsyncSession,
    slot: throttle.Slot,
    now: float,
    event: str,
    who: events.Who,
    detail: str = "",
) -> int:
    """Record a refused second factor, settle its slot; the lock in seconds (0: none)."""
    await events.record(db, event, now, detail=detail, **who)
    lock = await throttle.failed(db, slot, now)
    if lock:
        await events.record(db, "code_locked", now, **who)
    return lock


def _secret_or_none(ctx: AppContext, user: User) -> str | None:
    return totp_secret(ctx, user) if user.has_totp else None


async def _check_totp(
    db: AsyncSession, user: User, secret: str | None, code: str, now: float
) -> Outcome:
    if secret is None:
        return Outcome.fail(422, WRONG_MESSAGE, "code")
    step = totp.matching_step(secret, code, now)
    if step is None:
        return Outcome.fail(422, WRONG_MESSAGE, "code")
    if not await two_factor.claim_step(db, id_of(user), step):
        return Outcome.fail(422, REPLAY_MESSAGE, "code")
    user.totp_last_step = step
    return OK


async def _check_recovery(
    db: AsyncSession, ctx: AppContext, user: User, code: str, now: float
) -> Outcome:
    if user.recovery_key is None:
        return Outcome.fail(422, WRONG_MESSAGE, "code")
    digest = totp.recovery_digest(recovery_key(ctx, user), code)
    match = None
    for row in await two_factor.unused_recovery_codes(db, id_of(user)):
        # Compare every unused code in constant time; do not stop at the first match.
        if hmac.compare_digest(row.digest, digest):
            match = row
    if match is None:
        return Outcome.fail(422, WRONG_MESSAGE, "code")
    if not await two_factor.claim_recovery_code(db, match.id, now):
        return Outcome.fail(422, REPLAY_MESSAGE, "code")
    return OK
