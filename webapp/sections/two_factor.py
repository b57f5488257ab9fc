"""The 2FA section's state."""

from __future__ import annotations

from starlette.requests import Request

from webapp import totp
from webapp.context import get_ctx
from webapp.security import policy
from webapp.security.policy import Action, Factor
from webapp.security.sessions import Auth


def section_context(
    request: Request,
    auth: Auth,
    pending: str | None,
    left: int,
    codes: list[str] | None = None,
    error: str = "",
    code: str = "",
) -> dict[str, object]:
    """Everything the 2FA section template shows, for one user."""
    ctx = get_ctx(request)
    user = auth.user
    # Like the step-up dialog: when anything is missing, ask for every needed factor,
    # since the second factor is only ever proven together with the password.
    missing = policy.missing(request, user, Action.ENROL_2FA)
    asks = policy.needed(user, Action.ENROL_2FA) if missing else frozenset()
    setup = None
    if pending is not None and not user.has_totp:
        uri = totp.provisioning_uri(pending, user.username, ctx.settings.issuer)
        setup = {"grouped": totp.grouped(pending), "qr": totp.qr_svg(uri)}
    return {
        "enrolled": user.enrolled,
        "totp": user.has_totp,
        "login_2fa": user.login_2fa,
        "credentials_2fa": user.credentials_2fa,
        "setup": setup,
        "left": left,
        "codes": codes,
        "ask_password": Factor.PASSWORD in asks,
        # A passkey-only account proves its passkey to add an authenticator app.
        "ask_passkey": Factor.SECOND in asks and user.passkey_count > 0,
        "error": error,
        "code": code,
        "issuer": ctx.settings.issuer,
        "oob": False,
    }
