"""API keys: issue, reveal, and the one-query look-up that authenticates the API."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp import apikey
from webapp.models import ApiKey
from webapp.sealed_columns import API_KEY_SECRET
from webapp.vault import KeyRing

LAST_USED_GRANULARITY = 60.0


def _aad(user_id: int) -> str:
    return API_KEY_SECRET.bound_to(user_id)


async def issue(session: AsyncSession, keys: KeyRing, user_id: int, now: float) -> str:
    """Create or replace the user's key; the old one stops working at commit."""
    plain = apikey.generate()
    secret = keys.encrypt(plain, _aad(user_id))
    digest = keys.digest(apikey.LOOKUP_PURPOSE, plain)
    row = await session.get(ApiKey, user_id)
    if row is None:
        row = ApiKey(
            user_id=user_id, secret=secret, digest=digest, hint=apikey.hint(plain), created_at=now
        )
    else:
        row.secret, row.digest, row.hint = secret, digest, apikey.hint(plain)
        row.created_at, row.last_used_at = now, None
    session.add(row)
    await session.flush()
    return plain


async def get(session: AsyncSession, user_id: int) -> ApiKey | None:
    """The user's key row (ciphertext and hint), if any."""
    return await session.get(ApiKey, user_id)


def reveal(keys: KeyRing, row: ApiKey) -> str:
    """Decrypt the key for showing it after a step-up."""
    return keys.decrypt_text(row.secret, _aad(row.user_id))


def needs_touch(last_used_at: float | None, now: float) -> bool:
    """Whether the key's last-used time is over a minute old (so worth a write)."""
    return last_used_at is None or now - last_used_at >= LAST_USED_GRANULARITY


async def touch(session: AsyncSession, user_id: int, now: float) -> None:
    """Record the key's use (callers write at most once a minute: the API stays read-only)."""
    await session.exec(
        update(ApiKey).where(col(ApiKey.user_id) == user_id).values(last_used_at=now)
    )
