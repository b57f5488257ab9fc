"""The passkeys section's state."""

from __future__ import annotations

from starlette.requests import Request

from webapp.context import get_ctx
from webapp.models import id_of
from webapp.repositories import passkeys as repo
from webapp.security.sessions import Auth


async def passkeys_context(request: Request, auth: Auth, **extra: object) -> dict[str, object]:
    """What the Passkeys section shows: the user's passkeys, and any notice or codes."""
    async with get_ctx(request).db() as db:
        items = await repo.for_user(db, id_of(auth.user))
    pk = {"items": items, "error": "", "notice": "", "codes": None, **extra}
    return {"pk": pk}
