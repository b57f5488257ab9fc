"""The one place a password is checked: count the attempt, then argon2id, then settle.

The attempt is counted (and a lock checked) in its own committed transaction *before*
the expensive hash, so concurrent attempts, in one worker or several, cannot verify
more passwords than the lock allows. Failures and locks are recorded whatever
becomes of the request's own unit of work.
"""

from __future__ import annotations

from webapp.context import AppContext
from webapp.forms import MAX_PASSWORD
from webapp.models import User
from webapp.repositories import events
from webapp.security import throttle
from webapp.security.outcome import OK, Outcome


async def check(
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
    if not password:
        return Outcome.fail(422, "Enter your password.", "password")
    if len(password) > MAX_PASSWORD:
        # No account has such a password: refuse the shape, spend no hashing, count nothing.
        return Outcome.fail(422, f"Passwords are at most {MAX_PASSWORD} characters.", "password")
    now = ctx.now()
    policy = throttle.passwords(ctx.settings.password_lock_seconds)
    account_key, address_key = throttle.password_key(username), throttle.address_key(ip)
    async with ctx.db() as db:
        address = await throttle.reserve(db, address_key, throttle.ADDRESS, now)
        account = (
            await throttle.reserve(db, account_key, policy, now)
            if not isinstance(address, int)
            else 0
        )
        if isinstance(address, int) or isinstance(account, int):
            await db.rollback()  # a refused attempt counts nowhere
            wait = address if isinstance(address, int) else account
            assert isinstance(wait, int)
            return Outcome.fail(429, throttle.wait_message(wait), "password")
        await db.commit()
    stored = user.password_hash if user else None
    verified = await ctx.passwords.verify(stored, password)
    now = ctx.now()
    user_id = user.id if user else None
    async with ctx.db() as db:
        if verified:
            await throttle.succeeded(db, account, reset_all=True)
            await throttle.succeeded(db, address, reset_all=False)
            await db.commit()
            return OK
        await events.record(db, event, now, user_id=user_id, ip=ip, user_agent=agent)
        lock = max(await throttle.failed(db, account, now), await throttle.failed(db, address, now))
        if lock and user_id is not None:
            await events.record(db, "password_locked", now, user_id=user_id, ip=ip)
        await db.commit()
    if lock:
        return Outcome.fail(429, throttle.wait_message(lock), "password")
    return Outcome.fail(422, wrong_message, "password")
