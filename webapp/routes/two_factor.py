"""The 2FA section of Settings → Security: set-up, switches, recovery codes, removal."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from webapp import dom_ids as ids
from webapp import forms
from webapp.context import get_ctx
from webapp.models import id_of
from webapp.repositories import two_factor
from webapp.sections.two_factor import section_context
from webapp.security import policy, sessions
from webapp.security.guard import FIELDS, Modal, done, guard
from webapp.security.policy import Action
from webapp.security.sessions import Auth
from webapp.services import two_factor as service
from webapp.services.actor import Actor
from webapp.templating import render, retarget

BASE = "/settings/security/2fa"
NOT_ENROLLED = "Two-factor authentication is not set up. Set it up first."


async def _render(
    request: Request,
    auth: Auth,
    status_code: int = 200,
    *,
    codes: list[str] | None = None,
    error: str = "",
    code: str = "",
) -> Response:
    ctx = get_ctx(request)
    pending = two_factor.pending_secret(ctx.keys, auth.user, ctx.now())
    async with ctx.db() as db:
        left = await two_factor.recovery_codes_left(db, id_of(auth.user))
    context = {"tf": section_context(request, auth, pending, left, codes, error, code)}
    return render(request, "partials/twofactor.html", context, status_code=status_code)


async def setup(request: Request) -> Response:
    """Start (or resume) set-up: a pending secret, shown as a QR code and as text."""
    auth = await sessions.require(request)
    await forms.read(request)
    user = await service.start(Actor.of(request, auth))
    return await _render(request, Auth(user, auth.record_id))


async def cancel(request: Request) -> Response:
    """Abandon a pending set-up."""
    auth = await sessions.require(request)
    await forms.read(request)
    user = await service.cancel(Actor.of(request, auth))
    return await _render(request, Auth(user, auth.record_id))


async def confirm(request: Request) -> Response:
    """Enrol: the password (unless a proof is fresh) and a code from the new secret."""
    auth = await sessions.require(request)
    form = await forms.read(request, "code", "password", "passkey")
    typed = form["code"][:32]
    if not auth.user.has_totp and policy.missing(request, auth.user, Action.ENROL_2FA):
        # The code here is the new app's; an existing second factor can only be a passkey.
        outcome = await policy.prove(
            request, auth.user, Action.ENROL_2FA, form["password"], "", passkey=form["passkey"]
        )
        if not outcome.ok:
            return await _render(request, auth, outcome.status, error=outcome.message, code=typed)
    result = await service.confirm(Actor.of(request, auth), form["code"])
    here = Auth(result.user, auth.record_id)
    if not result.outcome.ok:
        status, message = result.outcome.status, result.outcome.message
        return await _render(request, here, status, error=message, code=typed)
    return await _render(request, here, codes=result.codes)


@dataclass(frozen=True)
class Change:
    """What the dialog of one 2FA change says (the change itself is a service)."""

    title: str
    intro: str
    submit: str
    confirm: str = ""
    danger: bool = False


_ASK = "Enter your password and a current 6-digit code (or a recovery code)."
CHANGES = {
    "login-on": Change(
        "Turn on Login 2FA",
        f"Sign-in will ask for a code after your password. {_ASK}",
        "Turn on",
    ),
    "login-off": Change(
        "Turn off Login 2FA",
        f"Sign-in will no longer ask for a code. {_ASK}",
        "Turn off",
        danger=True,
    ),
    "credentials-on": Change(
        "Turn on Credentials 2FA",
        f"Viewing or editing credentials will ask for a code. {_ASK}",
        "Turn on",
    ),
    "credentials-off": Change(
        "Turn off Credentials 2FA",
        f"Viewing or editing credentials will only ask for your password. {_ASK}",
        "Turn off",
        danger=True,
    ),
    "recovery-codes": Change(
        "New recovery codes",
        f"Your current recovery codes stop working. {_ASK}",
        "Generate new codes",
        confirm="I understand that my current recovery codes stop working.",
    ),
    "remove": Change(
        "Remove two-factor authentication",
        f"Your account will be protected by your password alone. {_ASK}",
        "Remove 2FA",
        confirm="I understand that my authenticator app and recovery codes stop working.",
        danger=True,
    ),
}


def _modal(action: str) -> Modal:
    change = CHANGES[action]
    return Modal(
        title=change.title,
        intro=change.intro,
        url=f"{BASE}/{action}",
        target=ids.target(ids.TWO_FACTOR),
        submit=change.submit,
        action=Action.CHANGE_2FA,
        confirm=change.confirm,
        danger=change.danger,
    )


async def change_form(request: Request) -> Response:
    """The modal for one 2FA change (always password and code)."""
    auth = await sessions.require(request)
    action = request.path_params["action"]
    if action not in CHANGES or not auth.user.enrolled:
        return await _not_possible(request, auth, action)
    blocked = await guard(request, auth, _modal(action), {})
    assert blocked is not None  # CHANGE_2FA needs a proof in this very request
    return blocked


async def change(request: Request) -> Response:
    """Apply a 2FA change after a fresh password-and-code check; end other sessions."""
    auth = await sessions.require(request)
    action = request.path_params["action"]
    form = await forms.read(request, *FIELDS)
    if action not in CHANGES or not auth.user.enrolled:
        return await _not_possible(request, auth, action)
    blocked = await guard(request, auth, _modal(action), form)
    if blocked is not None:
        return blocked
    try:
        user, shown = await service.change(Actor.of(request, auth), action)
    except service.NotEnrolled:
        return await _not_possible(request, auth, action)
    return done(await _render(request, Auth(user, auth.record_id), codes=shown))


async def _not_possible(request: Request, auth: Auth, action: str) -> Response:
    status, message = (
        (404, "Unknown action. Reload the page and try again.")
        if action not in CHANGES
        else (409, NOT_ENROLLED)
    )
    response = await _render(request, auth, status, error=message)
    return retarget(response, ids.target(ids.TWO_FACTOR))


routes = [
    Route(f"{BASE}/setup", setup, methods=["POST"], name="2fa.setup"),
    Route(f"{BASE}/cancel", cancel, methods=["POST"], name="2fa.cancel"),
    Route(f"{BASE}/confirm", confirm, methods=["POST"], name="2fa.confirm"),
    Route(f"{BASE}/{{action}}", change_form, methods=["GET"], name="2fa.change"),
    Route(f"{BASE}/{{action}}", change, methods=["POST"], name="2fa.change"),
]
