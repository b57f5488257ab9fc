"""The API key: reveal and re-generate, each behind the policy."""

from __future__ import annotations

from webapp.models import ApiKey
from webapp.repositories import api_keys
from webapp.security.policy import Action
from webapp.services.actor import Actor


async def reveal(actor: Actor) -> tuple[str, ApiKey] | None:
    """The key in full and its row (None if the user has none); recorded as viewed."""
    actor.require(Action.VIEW_API_KEY)
    async with actor.ctx.db() as db:
        row = await api_keys.get(db, actor.user_id)
        if row is None:
            return None
        plain = api_keys.reveal(actor.ctx.keys, row)
        await actor.note(db, "api_key_viewed")
        await db.commit()
    return plain, row


async def regenerate(actor: Actor) -> tuple[str, ApiKey | None]:
    """Replace the key; the old one stops authenticating the moment this commits."""
    actor.require(Action.REGENERATE_API_KEY)
    async with actor.ctx.db() as db:
        plain = await api_keys.issue(db, actor.ctx.keys, actor.user_id, actor.ctx.now())
        await actor.note(db, "api_key_regenerated")
        await db.commit()
        row = await api_keys.get(db, actor.user_id)
    return plain, row
