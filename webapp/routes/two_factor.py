"""The 2FA section of Settings → Security: set-up, switches, recovery codes, removal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from webapp import forms, totp
from webapp.context import get_ctx
from webapp.models import User
from webapp.repositories import sessions as records
from webapp.repositories import two_factor, users
from webapp.security import audit, codes, sessions, stepup
from webapp.security.guard import FIELDS, Modal, done, guard
from webapp.security.sessions import Auth, client_ip, user_agent
from webapp.templating import render

BASE = "/settings/security/2fa"
NOT_ENROLLED = "Two-factor authentication is not set up. Set it up first."


def section_context(
    request: Request,
    auth: Auth,
    pending: str | None,
    left: int,
    codes: list[str] | None = None,
    error: str = "",
    code: str = "",
) -> dict:
    """Everything the 2FA section template shows, for one user."""
    ctx = get_ctx(request)
    user = auth.user
    setup = None
    if pending is not None and user.totp_secret is None:
        uri = totp.provisioning_uri(pending, user.username, ctx.settings.issuer)
        setup = {"grouped": totp.grouped(pending), "qr": totp.qr_svg(uri)}
    return {
        "enrolled": user.totp_secret is not None,
        "login_2fa": user.login_2fa,
        "credentials_2fa": user.credentials_2fa,
        "setup": setup,
        "left": left,
        "codes": codes,
        "ask_password": not stepup.is_fresh(request),
        "error": error,
        "code": code,
        "issuer": ctx.settings.issuer,
    }


async def _section(
    request: Request,
    auth: Auth,
    db: AsyncSession,
    status_code: int = 200,
    **extra: object,
) -> Response:
    ctx = get_ctx(request)
    pending = two_factor.pending_secret(ctx.keys, auth.user, ctx.now())
    left = await two_factor.recovery_codes_left(db, auth.user.id)
    context = {"tf": section_context(request, auth, pending, left, **extra)}
    return render(request, "partials/twofactor.html", context, status_code=status_code)


async def setup(request: Request) -> Response:
    """Start (or resume) set-up: a pending secret, shown as a QR code and as text."""
    auth = await sessions.require(request)
    await forms.read(request)
    ctx = get_ctx(request)
    async with ctx.db() as db:
        user = await users.by_id(db, auth.user.id)
        assert user is not None
        if user.totp_secret is None:
            two_factor.start(ctx.keys, user, ctx.now())
            db.add(user)
            await db.commit()
        return await _section(request, Auth(user, auth.record_id), db)


async def cancel(request: Request) -> Response:
    """Abandon a pending set-up."""
    auth = await sessions.require(request)
    await forms.read(request)
    ctx = get_ctx(request)
    async with ctx.db() as db:
        user = await users.by_id(db, auth.user.id)
        assert user is not None
        two_factor.cancel(user)
        db.add(user)
        await db.commit()
        return await _section(request, Auth(user, auth.record_id), db)


async def confirm(request: Request) -> Response:
    """Enrol: the password (unless the window is fresh) and a code from the new secret."""
    auth = await sessions.require(request)
    form = await forms.read(request, "code", "password")
    ctx = get_ctx(request)
    if not stepup.is_fresh(request):
        outcome = await stepup.verify(request, auth.user, form["password"], None, with_code=False)
        if not outcome.ok:
            return await _confirm_error(request, auth, outcome.message, form, outcome.status)
    async with ctx.db() as db:
        user = await users.by_id(db, auth.user.id)
        assert user is not None
        here = Auth(user, auth.record_id)
        secret = two_factor.pending_secret(ctx.keys, user, ctx.now())
        if secret is None or user.totp_secret is not None:
            return await _section(request, here, db, 409, error="Set-up expired. Start again.")
        outcome = await codes.check(
            db, ctx, user, form["code"], client_ip(request), user_agent(request), pending=secret
        )
        if not outcome.ok:
            await db.commit()  # keep the failure count
            return await _section(
                request, here, db, outcome.status, error=outcome.message, code=form["code"][:32]
            )
        new_codes = await two_factor.confirm(db, ctx.keys, user, secret, user.totp_last_step or 0)
        await records.revoke_all(db, user.id, ctx.now(), keep=auth.record_id)
        await audit.note(db, request, "2fa_enrolled", user.id)
        await db.commit()
        return await _section(request, here, db, codes=new_codes)


async def _confirm_error(
    request: Request, auth: Auth, message: str, form: dict[str, str], status: int
) -> Response:
    async with get_ctx(request).db() as db:
        return await _section(request, auth, db, status, error=message, code=form["code"][:32])


@dataclass(frozen=True)
class Change:
    """One guarded 2FA change: what the modal says and what it does."""

    title: str
    intro: str
    submit: str
    event: str
    apply: Callable[[AsyncSession, Request, User], Awaitable[list[str] | None]]
    confirm: str = ""
    danger: bool = False


def _switch(attr: str, value: bool) -> Callable[..., Awaitable[None]]:
    async def apply(db: AsyncSession, request: Request, user: User) -> None:
        setattr(user, attr, value)
        db.add(user)

    return apply


async def _recovery(db: AsyncSession, request: Request, user: User) -> list[str]:
    return await two_factor.new_recovery_codes(db, get_ctx(request).keys, user)


async def _remove(db: AsyncSession, request: Request, user: User) -> None:
    await two_factor.remove(db, user)


_ASK = "Enter your password and a current 6-digit code (or a recovery code)."
CHANGES = {
    "login-on": Change(
        "Turn on Login 2FA",
        f"Sign-in will ask for a code after your password. {_ASK}",
        "Turn on",
        "login_2fa_on",
        _switch("login_2fa", True),
    ),
    "login-off": Change(
        "Turn off Login 2FA",
        f"Sign-in will no longer ask for a code. {_ASK}",
        "Turn off",
        "login_2fa_off",
        _switch("login_2fa", False),
        danger=True,
    ),
    "credentials-on": Change(
        "Turn on Credentials 2FA",
        f"Viewing or editing credentials will ask for a code. {_ASK}",
        "Turn on",
        "credentials_2fa_on",
        _switch("credentials_2fa", True),
    ),
    "credentials-off": Change(
        "Turn off Credentials 2FA",
        f"Viewing or editing credentials will only ask for your password. {_ASK}",
        "Turn off",
        "credentials_2fa_off",
        _switch("credentials_2fa", False),
        danger=True,
    ),
    "recovery-codes": Change(
        "New recovery codes",
        f"Your current recovery codes stop working. {_ASK}",
        "Generate new codes",
        "recovery_codes_regenerated",
        _recovery,
        confirm="I understand that my current recovery codes stop working.",
    ),
    "remove": Change(
        "Remove two-factor authentication",
        f"Your account will be protected by your password alone. {_ASK}",
        "Remove 2FA",
        "2fa_removed",
        _remove,
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
        target="#twofactor",
        submit=change.submit,
        confirm=change.confirm,
        always_ask=True,
        danger=change.danger,
    )


async def change_form(request: Request) -> Response:
    """The modal for one 2FA change (always password and code)."""
    auth = await sessions.require(request)
    action = request.path_params["action"]
    if action not in CHANGES or auth.user.totp_secret is None:
        return await _not_possible(request, auth, action)
    blocked = await guard(request, auth, _modal(action), {})
    assert blocked is not None  # always_ask: the modal is always shown first
    return blocked


async def change(request: Request) -> Response:
    """Apply a 2FA change after a fresh password-and-code check; end other sessions."""
    auth = await sessions.require(request)
    action = request.path_params["action"]
    form = await forms.read(request, *FIELDS)
    if action not in CHANGES or auth.user.totp_secret is None:
        return await _not_possible(request, auth, action)
    blocked = await guard(request, auth, _modal(action), form)
    if blocked is not None:
        return blocked
    ctx = get_ctx(request)
    spec = CHANGES[action]
    async with ctx.db() as db:
        user = await users.by_id(db, auth.user.id)
        assert user is not None
        shown = await spec.apply(db, request, user)
        ended = await records.revoke_all(db, user.id, ctx.now(), keep=auth.record_id)
        await audit.note(db, request, spec.event, user.id, detail=f"{ended} other sessions ended")
        await db.commit()
        return done(await _section(request, Auth(user, auth.record_id), db, codes=shown))


async def _not_possible(request: Request, auth: Auth, action: str) -> Response:
    status, message = (
        (404, "Unknown action. Reload the page and try again.")
        if action not in CHANGES
        else (409, NOT_ENROLLED)
    )
    async with get_ctx(request).db() as db:
        response = await _section(request, auth, db, status, error=message)
    response.headers["HX-Retarget"] = "#twofactor"
    response.headers["HX-Reswap"] = "outerHTML"
    return response


routes = [
    Route(f"{BASE}/setup", setup, methods=["POST"]),
    Route(f"{BASE}/cancel", cancel, methods=["POST"]),
    Route(f"{BASE}/confirm", confirm, methods=["POST"]),
    Route(f"{BASE}/{{action}}", change_form, methods=["GET"]),
    Route(f"{BASE}/{{action}}", change, methods=["POST"]),
]
