"""Recent activity, active sessions and the change-password form's state."""

from __future__ import annotations

from starlette.requests import Request

from webapp import activity
from webapp.context import get_ctx
from webapp.models import id_of
from webapp.repositories import events
from webapp.repositories import sessions as records
from webapp.security.sessions import Auth

PAGE_SIZE = 20


async def activity_context(
    request: Request, auth: Auth, before: int | None = None
) -> dict[str, object]:
    """The newest events (a page of them) and whether older ones exist."""
    async with get_ctx(request).db() as db:
        rows = await events.recent(db, id_of(auth.user), PAGE_SIZE + 1, before)
    return {
        "events": rows[:PAGE_SIZE],
        "more": len(rows) > PAGE_SIZE,
        "label": activity.label,
        "browser": activity.browser,
        "alarming": activity.ALARMING,
    }


async def sessions_context(request: Request, auth: Auth, notice: str = "") -> dict[str, object]:
    """The user's live sessions, this one marked."""
    async with get_ctx(request).db() as db:
        live = await records.live_for_user(db, id_of(auth.user))
    return {
        "sessions": live,
        "current": auth.record_id,
        "browser": activity.browser,
        "notice": notice,
    }


def password_context(
    auth: Auth, errors: dict[str, str] | None = None, notice: str = ""
) -> dict[str, object]:
    """The change-password form's state."""
    return {
        "ask_code": auth.user.enrolled,
        "ask_passkey": auth.user.passkey_count > 0,
        "totp": auth.user.has_totp,
        "pw_errors": errors or {},
        "pw_notice": notice,
    }
