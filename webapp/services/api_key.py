"""API keys: reveal, re-generate (with a grace period), create, change, expire, delete.

Each function checks the policy first (``actor.require``), then changes the key,
records the event and commits, in one unit of work.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from webapp import key_rules
from webapp.api_usage import utc
from webapp.models import ApiKey
from webapp.repositories import api_keys
from webapp.security.policy import Action
from webapp.services.actor import Actor

TOO_MANY = (
    f"You have {key_rules.MAX_KEYS} API keys, the most an account can hold. "
    "Delete one you no longer use first."
)
DEFAULT_FIXED = "The default key cannot be deleted or restricted; create a named key instead."


class KeyRefused(Exception):
    """The change cannot be made; ``status`` and ``message`` say why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Shown:
    """A key in full (shown once, or after a step-up) and its row."""

    plain: str
    row: ApiKey


async def _key(
    db: AsyncSession, actor: Actor, key_id: int | None, *, lock: bool = False
) -> ApiKey | None:
    """The user's key (the default one for None); with ``lock``, held until commit."""
    if key_id is None:
        row = await api_keys.get(db, actor.user_id)
    else:
        row = await api_keys.owned(db, actor.user_id, key_id)
    if row is not None and lock and not await api_keys.lock(db, row):
        return None  # deleted meanwhile
    return row


async def _named_only(db: AsyncSession, actor: Actor, key_id: int) -> ApiKey | None:
    """A named key of the user's, held until commit (None if there is none); the
    default key is refused, its name and limits being fixed."""
    row = await _key(db, actor, key_id, lock=True)
    if row is not None and row.is_default:
        raise KeyRefused(409, DEFAULT_FIXED)
    return row


def _named(row: ApiKey) -> str:
    return "default key" if row.is_default else f"key “{row.name}”"


async def reveal(actor: Actor, key_id: int | None = None) -> tuple[str, ApiKey] | None:
    """The key in full and its row (None if there is no such key); recorded as viewed."""
    actor.require(Action.VIEW_API_KEY)
    async with actor.ctx.db() as db:
        row = await _key(db, actor, key_id)
        if row is None:
            return None
        plain = api_keys.reveal(actor.ctx.keys, row)
        await actor.note(db, "api_key_viewed", "" if row.is_default else row.name)
        await db.commit()
    return plain, row


async def regenerate(
    actor: Actor, key_id: int | None = None, grace: str = "now"
) -> tuple[str, ApiKey] | None:
    """Give the key a new secret. With ``grace`` other than "now" the old secret keeps
    working for that long (1 hour, 24 hours, 7 days); else it stops at commit."""
    actor.require(Action.REGENERATE_API_KEY)
    seconds, _label = key_rules.GRACE.get(grace, key_rules.GRACE["now"])
    now = actor.ctx.now()
    async with actor.ctx.db() as db:
        row = await _key(db, actor, key_id, lock=True)
        if row is None:
            return None
        plain = await api_keys.roll(db, actor.ctx.keys, row, now, seconds)
        detail = "" if row.is_default else row.name
        if seconds:
            detail = f"{_named(row)}; the old key works until {utc(now + seconds)}"
            await actor.note(db, "api_key_rolled_with_grace", detail)
        else:
            await actor.note(db, "api_key_regenerated", detail)
        await db.commit()
        await db.refresh(row)
    return plain, row


async def create(actor: Actor, limits: key_rules.Limits) -> Shown:
    """Add a named key (at most MAX_KEYS per user); it is shown in full once."""
    actor.require(Action.CREATE_API_KEY)
    async with actor.ctx.db() as db:
        await api_keys.lock_owner(db, actor.user_id)  # count after any concurrent creation
        if await api_keys.count_for(db, actor.user_id) >= key_rules.MAX_KEYS:
            raise KeyRefused(409, TOO_MANY)
        plain, row = await api_keys.create(
            db, actor.ctx.keys, actor.user_id, limits, actor.ctx.now()
        )
        await actor.note(db, "api_key_created", f"{limits.name} ({limits.permissions})")
        await db.commit()
        await db.refresh(row)
    return Shown(plain, row)


async def change(actor: Actor, key_id: int, limits: key_rules.Limits) -> ApiKey | None:
    """Change a named key's name, permissions, allow-list and expiry."""
    actor.require(Action.CHANGE_API_KEY)
    async with actor.ctx.db() as db:
        row = await _named_only(db, actor, key_id)
        if row is None:
            return None
        api_keys.update_limits(row, limits)
        db.add(row)
        await actor.note(db, "api_key_changed", f"{limits.name} ({limits.permissions})")
        await db.commit()
        await db.refresh(row)
    return row


async def expire_previous(actor: Actor, key_id: int | None = None) -> ApiKey | None:
    """Stop the old secret of a re-generated key now, before its grace period ends."""
    actor.require(Action.CHANGE_API_KEY)
    async with actor.ctx.db() as db:
        row = await _key(db, actor, key_id, lock=True)
        if row is None:
            return None
        until = row.prev_until
        if until is not None and await api_keys.end_previous(db, row, until):
            await actor.note(db, "api_key_previous_expired", f"{_named(row)}: expired now")
        await db.commit()
        await db.refresh(row)
    return row


async def delete(actor: Actor, key_id: int) -> str | None:
    """Delete a named key at once; returns its name (None if there is no such key)."""
    actor.require(Action.CHANGE_API_KEY)
    async with actor.ctx.db() as db:
        row = await _named_only(db, actor, key_id)
        if row is None:
            return None
        name = row.name
        await api_keys.remove(db, row)
        await actor.note(db, "api_key_deleted", name)
        await db.commit()
    return name
