"""A user's 2FA state: pending set-up, confirmation, switches, recovery codes, removal."""

from __future__ import annotations

import secrets

from sqlalchemy import delete, func, text, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp import totp
from webapp.db import run_sql
from webapp.models import RecoveryCode, User, id_of
from webapp.repositories import passkeys, row_locks
from webapp.sealed_columns import USER_RECOVERY_KEY, USER_TOTP_PENDING, USER_TOTP_SECRET
from webapp.vault import KeyRing

# How long a new authenticator-app secret waits for its first code (the set-up).
TOTP_SETUP_SECONDS = 600


def pending_secret(keys: KeyRing, user: User, now: float) -> str | None:
    """The unconfirmed secret being set up, unless there is none or it expired."""
    if user.totp_pending is None or user.totp_pending_at is None:
        return None
    if now - user.totp_pending_at > TOTP_SETUP_SECONDS:
        return None
    return keys.decrypt_text(user.totp_pending, USER_TOTP_PENDING.bound_to(user.id))


def start(keys: KeyRing, user: User, now: float) -> str:
    """The pending secret: the same one while it lives (a reload keeps it), else new."""
    current = pending_secret(keys, user, now)
    if current is not None:
        return current
    secret = totp.new_secret()
    user.totp_pending = keys.encrypt(secret, USER_TOTP_PENDING.bound_to(user.id))
    user.totp_pending_at = now
    return secret


def cancel(user: User) -> None:
    """Drop a pending set-up."""
    user.totp_pending = None
    user.totp_pending_at = None


async def confirm(db: AsyncSession, keys: KeyRing, user: User, secret: str, step: int) -> list[str]:
    """Make the pending secret the user's 2FA secret; returns fresh recovery codes."""
    user.totp_secret = keys.encrypt(secret, USER_TOTP_SECRET.bound_to(user.id))
    user.totp_last_step = step
    cancel(user)
    return await new_recovery_codes(db, keys, user)


async def new_recovery_codes(db: AsyncSession, keys: KeyRing, user: User) -> list[str]:
    """Replace the user's recovery codes (the old set dies) and return the new ones."""
    # Lock the user's row first: two concurrent replacements on PostgreSQL would each
    # delete only the codes they can see and leave both new sets beside one key.
    await row_locks.hold(db, User.recovery_key, col(User.id) == user.id)
    key = secrets.token_bytes(32)
    user.recovery_key = keys.encrypt(key, USER_RECOVERY_KEY.bound_to(user.id))
    await db.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
    codes = totp.new_recovery_codes()
    for code in codes:
        db.add(RecoveryCode(user_id=id_of(user), digest=totp.recovery_digest(key, code)))
    db.add(user)
    return codes


async def recovery_codes_left(db: AsyncSession, user_id: int) -> int:
    """How many unused recovery codes the user has."""
    result = await db.exec(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, col(RecoveryCode.used_at).is_(None))
    )
    return int(result.one())


async def remove(db: AsyncSession, user: User) -> None:
    """Turn 2FA off entirely: secret, passkeys, switches and recovery codes go."""
    user.totp_secret = None
    user.totp_last_step = None
    user.login_2fa = False
    user.credentials_2fa = False
    user.recovery_key = None
    cancel(user)
    await db.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
    await passkeys.remove_all(db, user)
    db.add(user)


async def claim_step(db: AsyncSession, user_id: int, step: int) -> bool:
    """Store ``step`` as the last accepted one if it is newer; atomic across workers."""
    result = await run_sql(
        db,
        text(
            "UPDATE users SET totp_last_step = :step WHERE id = :id "
            "AND (totp_last_step IS NULL OR totp_last_step < :step)"
        ),
        {"step": step, "id": user_id},
    )
    return result.rowcount == 1


async def unused_recovery_codes(db: AsyncSession, user_id: int) -> list[RecoveryCode]:
    """The user's recovery codes not used yet."""
    result = await db.exec(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user_id, col(RecoveryCode.used_at).is_(None)
        )
    )
    return list(result.all())


async def claim_recovery_code(db: AsyncSession, code_id: int | None, now: float) -> bool:
    """Mark one recovery code used, unless another request already did (it works once)."""
    claimed = await db.exec(
        update(RecoveryCode)
        .where(col(RecoveryCode.id) == code_id, col(RecoveryCode.used_at).is_(None))
        .values(used_at=now)
    )
    return claimed.rowcount == 1
