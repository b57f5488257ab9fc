"""The live status strip: 2FA, key last used, sessions; and the recovery-code notice."""

from __future__ import annotations

from starlette.requests import Request

from webapp.context import get_ctx
from webapp.models import id_of
from webapp.repositories import api_keys, two_factor
from webapp.repositories import sessions as records
from webapp.security.sessions import Auth

RECOVERY_NOTICE = "codes_left_after_recovery"  # session key: a count, never a code


async def status_context(request: Request, auth: Auth) -> dict[str, object]:
    """2FA on or off, when the key was last used, how many sessions are live."""
    async with get_ctx(request).db() as db:
        keys = await api_keys.for_user(db, id_of(auth.user))
        live = await records.live_for_user(db, id_of(auth.user))
        left = await two_factor.recovery_codes_left(db, id_of(auth.user))
    user = auth.user
    return {
        "st": {
            "enrolled": user.enrolled,  # an app or a passkey: either is a second factor
            "login_2fa": user.login_2fa,
            "credentials_2fa": user.credentials_2fa,
            "key_used": max((k.last_used_at for k in keys if k.last_used_at), default=None),
            "sessions": len(live),
            "codes_left": left,
        }
    }


def note_recovery_sign_in(request: Request, left: int) -> None:
    """Remember, for the next Security page, how many recovery codes are left."""
    request.session[RECOVERY_NOTICE] = left


def pop_recovery_notice(request: Request) -> int | None:
    """The count noted at a recovery-code sign-in, once."""
    left = request.session.pop(RECOVERY_NOTICE, None)
    return left if isinstance(left, int) else None
