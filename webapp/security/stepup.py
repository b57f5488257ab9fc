"""Step-up: prove it is really you (password, plus a code with Credentials 2FA).

A successful step-up opens a window (``AUTOTRADER_STEPUP_SECONDS``) in which sensitive
actions do not ask again; changes to 2FA ask every time (``fresh=True``).
"""

from __future__ import annotations

from starlette.requests import Request

from webapp.context import get_ctx
from webapp.models import User
from webapp.repositories import users
from webapp.security import codes, password_gate
from webapp.security.outcome import Outcome
from webapp.security.sessions import client_ip, user_agent

WRONG_PASSWORD = "That password is not correct. Enter your AutoTrader login password."  # noqa: S105


def needs_code(user: User) -> bool:
    """Whether this user's step-ups ask for a 6-digit code (Credentials 2FA)."""
    return user.credentials_2fa and user.totp_secret is not None


def is_fresh(request: Request) -> bool:
    """Whether the session's last step-up is still inside the window."""
    ctx = get_ctx(request)
    at = request.session.get("stepup_at")
    if not isinstance(at, int | float):
        return False
    return 0 <= ctx.now() - at <= ctx.settings.stepup_seconds


def has_lapsed(request: Request) -> bool:
    """Whether this session stepped up before and that window has since closed."""
    return "stepup_at" in request.session and not is_fresh(request)


async def verify(
    request: Request, user: User, password: str, code: str | None, *, with_code: bool
) -> Outcome:
    """Check password (and code when ``with_code``); open the window on success."""
    ctx = get_ctx(request)
    ip, agent = client_ip(request), user_agent(request)
    async with ctx.db() as db:
        fresh_user = await users.by_id(db, user.id)
        assert fresh_user is not None
        outcome = await password_gate.check(
            db,
            ctx,
            fresh_user.username,
            fresh_user,
            password,
            wrong_message=WRONG_PASSWORD,
            event="stepup_failed",
            ip=ip,
            agent=agent,
        )
        if outcome.ok and with_code:
            outcome = await codes.check(db, ctx, fresh_user, code or "", ip, agent)
        await db.commit()
    if outcome.ok:
        request.session["stepup_at"] = ctx.now()
    return outcome
