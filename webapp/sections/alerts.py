"""The alert-address and lock-down sections' state."""

from __future__ import annotations

from starlette.requests import Request

from webapp.alerts import address, catalog
from webapp.alerts.compose import CONFIRM_SECONDS
from webapp.context import get_ctx
from webapp.models import id_of
from webapp.security import holds
from webapp.security.sessions import Auth


def alerts_context(
    request: Request, auth: Auth, errors: dict[str, str] | None = None, notice: str = ""
) -> dict[str, object]:
    """The alert-address section's state (addresses only ever masked)."""
    ctx = get_ctx(request)
    user = auth.user
    email = address.of_user(ctx.keys, id_of(user), user.email)
    pending = address.of_user(ctx.keys, id_of(user), user.email_pending, "email_pending")
    pending_alive = (
        bool(pending)
        and user.email_pending_at is not None
        and ctx.now() - user.email_pending_at <= CONFIRM_SECONDS
    )
    return {
        "al_email": address.masked(email) if email else "",
        "al_pending": address.masked(pending) if pending_alive else "",
        "al_switches": [(c, label, getattr(user, c)) for c, label in catalog.SWITCHES.items()],
        "al_errors": errors or {},
        "al_notice": notice,
        "al_ask_code": user.has_totp,
        "al_value": "",
    }


def lockdown_context(
    request: Request,
    auth: Auth,
    errors: dict[str, str] | None = None,
    notice: str = "",
    unlocked: bool = False,
) -> dict[str, object]:
    """The lock-down section's state: locked or not, cool-down left and why."""
    ctx = get_ctx(request)
    user = auth.user
    hours = ctx.settings.cooldown_hours
    left = holds.cooldown_left(user, ctx.now(), hours)
    return {
        "ld_locked": user.locked_at is not None,
        "ld_locked_at": user.locked_at,
        "ld_cooldown": holds.duration(left) if left else "",
        "ld_reason": holds.COOLDOWN_REASONS.get(user.cooldown_reason, ""),
        "ld_hours": hours,
        "ld_errors": errors or {},
        "ld_notice": notice,
        "ld_unlocked": unlocked,
        "ld_ask_code": user.has_totp,
    }
