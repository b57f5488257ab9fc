"""The one place a password is checked: locks first, then argon2id, then counting."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.context import AppContext
from webapp.forms import MAX_PASSWORD
from webapp.models import User
from webapp.repositories import events
from webapp.security import throttle
from webapp.security.outcome import OK, Outcome


async def check(
    db: AsyncSession,
    ctx: AppContext,
    username: str,
    user: User | None,
    password: str,
    *,
    wrong_message: str,
    event: str,
    ip: str,
    agent: str,
) -> Outcome:
    """Verify ``password`` for ``username`` (``user`` None if unknown), throttled.

    Unknown users cost the same argon2id work and get the same answer as a wrong
    password, and their name is locked alike, so nothing tells whether they exist.
    """
    now = ctx.now()
    account_key, address_key = throttle.password_key(username), throttle.address_key(ip)
    wait = max(
        await throttle.retry_after(db, address_key, now),
        await throttle.retry_after(db, account_key, now),
    )
    if wait:
        return Outcome.fail(429, throttle.wait_message(wait), "password")
    if not password:
        return Outcome.fail(422, "Enter your password.", "password")
    if len(password) > MAX_PASSWORD:
        # No account has such a password: refuse the shape, spend no hashing, count nothing.
        return Outcome.fail(422, f"Passwords are at most {MAX_PASSWORD} characters.", "password")
    stored = user.password_hash if user else None
    if await ctx.passwords.verify(stored, password):
        await throttle.reset(db, account_key)
        return OK
    user_id = user.id if user else None
    await events.record(db, event, now, user_id=user_id, ip=ip, user_agent=agent)
    lock = max(
        await throttle.record_failure(db, account_key, throttle.PASSWORD, now),
        await throttle.record_failure(db, address_key, throttle.ADDRESS, now),
    )
    if lock:
        if user_id is not None:
            await events.record(db, "password_locked", now, user_id=user_id, ip=ip)
        return Outcome.fail(429, throttle.wait_message(lock), "password")
    return Outcome.fail(422, wrong_message, "password")
