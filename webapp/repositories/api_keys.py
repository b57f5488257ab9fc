"""API keys: issue, reveal, and the one-query look-up that authenticates the API."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp import apikey
from webapp.models import ApiKey, User
from webapp.vault import KeyRing, aad

LAST_USED_GRANULARITY = 60.0


def _aad(user_id: int) -> str:
    return aad("api_keys", user_id, "secret")


async def issue(session: AsyncSession, keys: KeyRing, user_id: int, now: float) -> str:
    """Create or replace the user's key; the old one stops working at commit."""
    plain = apikey.generate()
    row = await session.get(ApiKey, user_id) or ApiKey(user_id=user_id, created_at=now)
    row.secret = keys.encrypt(plain, _aad(user_id))
    row.digest = keys.digest(apikey.LOOKUP_PURPOSE, plain)
    row.hint = apikey.hint(plain)
    row.created_at = now
    row.last_used_at = None
    session.add(row)
    await session.flush()
    return plain


async def get(session: AsyncSession, user_id: int) -> ApiKey | None:
    """The user's key row (ciphertext and hint), if any."""
    return await session.get(ApiKey, user_id)


def reveal(keys: KeyRing, row: ApiKey) -> str:
    """Decrypt the key for showing it after a step-up."""
    return keys.decrypt_text(row.secret, _aad(row.user_id))


async def authenticate(
    session: AsyncSession, keys: KeyRing, presented: str
) -> tuple[User, ApiKey] | None:
    """The owner of a presented key: one indexed query, no decryption."""
    if not apikey.is_well_formed(presented):
        return None
    digests = keys.digests(apikey.LOOKUP_PURPOSE, presented)
    result = await session.exec(
        select(User, ApiKey)
        .join(ApiKey, ApiKey.user_id == User.id)
        .where(col(ApiKey.digest).in_(digests))
    )
    found = result.first()
    return (found[0], found[1]) if found else None


async def touch(session: AsyncSession, row: ApiKey, now: float) -> bool:
    """Record the key's use, at most once a minute so the API path stays read-only."""
    if row.last_used_at is not None and now - row.last_used_at < LAST_USED_GRANULARITY:
        return False
    row.last_used_at = now
    session.add(row)
    return True
