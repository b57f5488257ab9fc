"""Passkeys and their challenges: stored rows, single-use claims, counter updates.

Every change that adds or removes passkeys moves ``users.passkey_count`` in the same
statement batch (and so the same transaction), so the policy's "is 2FA set up" never
disagrees with the table.
"""

from __future__ import annotations

import secrets

from sqlalchemy import delete, func, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.db import run_sql
from webapp.models import Passkey, PasskeyChallenge, User
from webapp.security.webauthn import b64, unb64

CHALLENGE_SECONDS = 120.0


def handle_of(user: User) -> bytes:
    """The user's WebAuthn user handle, made (32 random bytes) on first use."""
    if user.passkey_handle is None:
        user.passkey_handle = b64(secrets.token_bytes(32))
    return unb64(user.passkey_handle)


async def for_user(db: AsyncSession, user_id: int) -> list[Passkey]:
    """The user's passkeys, oldest first."""
    result = await db.exec(
        select(Passkey).where(Passkey.user_id == user_id).order_by(col(Passkey.id))
    )
    return list(result.all())


async def owned(db: AsyncSession, user_id: int, passkey_id: int) -> Passkey | None:
    """One of the user's passkeys; None for a missing one or another user's alike."""
    result = await db.exec(
        select(Passkey).where(Passkey.id == passkey_id, Passkey.user_id == user_id)
    )
    return result.first()


async def id_taken(db: AsyncSession, credential_id: str) -> bool:
    """Whether any account already has a passkey with this credential id."""
    result = await db.exec(
        select(func.count()).select_from(Passkey).where(Passkey.credential_id == credential_id)
    )
    return int(result.one()) > 0


async def add(db: AsyncSession, user: User, passkey: Passkey) -> None:
    """Store a new passkey and count it on the user."""
    db.add(passkey)
    await _count(db, user, +1)


async def remove(db: AsyncSession, user: User, passkey_id: int) -> bool:
    """Delete one of the user's passkeys; False when it was already gone."""
    gone = await db.exec(
        delete(Passkey).where(col(Passkey.id) == passkey_id, col(Passkey.user_id) == user.id)
    )
    if gone.rowcount != 1:
        return False
    await _count(db, user, -1)
    return True


async def _count(db: AsyncSession, user: User, step: int) -> None:
    # One atomic statement (concurrent adds cannot lose a count), then the object is
    # re-read so a later flush of ``user`` writes back the database's own number.
    await run_sql(
        db,
        text("UPDATE users SET passkey_count = passkey_count + :step WHERE id = :id"),
        {"step": step, "id": user.id},
    )
    await db.refresh(user, ["passkey_count"])


async def remove_all(db: AsyncSession, user: User) -> None:
    """Delete every passkey of the user (2FA removed entirely)."""
    await db.exec(delete(Passkey).where(col(Passkey.user_id) == user.id))
    await db.exec(delete(PasskeyChallenge).where(col(PasskeyChallenge.user_id) == user.id))
    user.passkey_count = 0


async def record_use(db: AsyncSession, passkey_id: int, sign_count: int, now: float) -> bool:
    """Store a newer counter and the time of use, atomically across workers.

    A counter must grow, except for authenticators that keep none (0 then and now).
    False when it did not (a clone, or a concurrent use of the same count).
    """
    result = await run_sql(
        db,
        text(
            "UPDATE passkeys SET sign_count = :count, last_used_at = :now WHERE id = :id "
            "AND (sign_count < :count OR (sign_count = 0 AND :count = 0))"
        ),
        params={"count": sign_count, "now": now, "id": passkey_id},
    )
    return result.rowcount == 1


async def new_challenge(
    db: AsyncSession, binding: str, user_id: int, purpose: str, now: float
) -> bytes:
    """A fresh challenge for this session and purpose; any earlier one is dropped."""
    await db.exec(
        delete(PasskeyChallenge).where(
            col(PasskeyChallenge.binding) == binding, col(PasskeyChallenge.purpose) == purpose
        )
    )
    challenge = secrets.token_bytes(32)
    db.add(
        PasskeyChallenge(
            binding=binding,
            user_id=user_id,
            purpose=purpose,
            challenge=b64(challenge),
            expires_at=now + CHALLENGE_SECONDS,
        )
    )
    return challenge


async def claim_challenge(
    db: AsyncSession, binding: str, user_id: int, purpose: str, now: float
) -> bytes | None:
    """Take this session's challenge (it is deleted: single-use); None if none is live."""
    result = await db.exec(
        select(PasskeyChallenge).where(
            PasskeyChallenge.binding == binding,
            PasskeyChallenge.purpose == purpose,
            PasskeyChallenge.user_id == user_id,
        )
    )
    row = result.first()
    if row is None:
        return None
    # The delete decides: of two requests racing for one challenge, one gets it.
    taken = await db.exec(delete(PasskeyChallenge).where(col(PasskeyChallenge.id) == row.id))
    if taken.rowcount != 1 or not 0 <= row.expires_at - now <= CHALLENGE_SECONDS:
        return None
    return unb64(row.challenge)


async def prune_challenges(db: AsyncSession, now: float) -> int:
    """Delete challenges past their expiry (left by ceremonies never finished)."""
    result = await db.exec(delete(PasskeyChallenge).where(col(PasskeyChallenge.expires_at) < now))
    return result.rowcount or 0
