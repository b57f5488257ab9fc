"""The Passkeys section of Settings → Security: options for the browser, add, remove.

The browser asks for *options* (a challenge bound to this session) as JSON, runs the
WebAuthn ceremony, and posts the result with the step-up dialog's form, so adding or
removing a passkey is checked by the same policy as every 2FA change.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from webapp import dom_ids as ids
from webapp import forms
from webapp.context import get_ctx
from webapp.models import User, id_of
from webapp.repositories import passkeys as repo
from webapp.repositories import two_factor, users
from webapp.sections.passkeys import passkeys_context
from webapp.sections.two_factor import section_context
from webapp.security import sessions
from webapp.security.guard import FIELDS, Modal, done, guard, show
from webapp.security.passkey_gate import session_binding
from webapp.security.policy import Action
from webapp.security.sessions import Auth
from webapp.services import passkeys as service
from webapp.services.actor import Actor
from webapp.templating import render, retarget

BASE = "/settings/security/passkeys"
GONE = "That passkey is not on this account any more. Reload the page."
TOO_MANY = f"You can add at most {service.MAX_PASSKEYS} passkeys. Remove one first."
_ASK = "Enter your password"


async def _section(
    request: Request, auth: Auth, status_code: int = 200, **extra: object
) -> Response:
    """The section, and the 2FA section beside it (out of band: its state may change)."""
    ctx = get_ctx(request)
    async with ctx.db() as db:
        user = await _reload(db, auth)
        left = await two_factor.recovery_codes_left(db, id_of(user))
    here = Auth(user, auth.record_id)
    pending = two_factor.pending_secret(ctx.keys, user, ctx.now())
    tf = {**section_context(request, here, pending, left), "oob": True}
    context = {**await passkeys_context(request, here, **extra), "tf": tf}
    return render(request, "partials/passkeys.html", context, status_code=status_code)


async def _reload(db: AsyncSession, auth: Auth) -> User:
    user = await users.by_id(db, id_of(auth.user))
    assert user is not None
    return user


def _intro(auth: Auth, first: str) -> str:
    user = auth.user
    if user.has_totp and user.passkey_count:
        second = " and a current 6-digit code, a recovery code, or use a passkey."
    elif user.has_totp:
        second = " and a current 6-digit code (or a recovery code)."
    elif user.passkey_count:
        second = ", then use a passkey you already added (or enter a recovery code)."
    else:
        second = "."
    return f"{first} {_ASK}{second}"


def _add_modal(auth: Auth, error: str = "") -> Modal:
    return Modal(
        title="Add a passkey",
        intro=_intro(
            auth,
            "Your browser will ask you to create a passkey (with this device, your phone "
            "or a security key). It then works wherever a 6-digit code is asked for.",
        ),
        url=f"{BASE}/add",
        target=ids.target(ids.PASSKEYS),
        action=Action.ADD_PASSKEY,
        submit="Create passkey",
        name_label="Name for this passkey",
        ceremony=f"{BASE}/options",
        error=error,
        error_field="passkey" if error else "",
    )


def _remove_modal(auth: Auth, passkey_id: int, name: str, last: bool) -> Modal:
    confirm = (
        "I understand that this is my last second factor: Login 2FA and Credentials 2FA "
        "turn off and my recovery codes stop working."
        if last
        else ""
    )
    return Modal(
        title=f"Remove passkey “{name}”",
        intro=_intro(auth, "This passkey will no longer be accepted."),
        url=f"{BASE}/{passkey_id}/remove",
        target=ids.target(ids.PASSKEYS),
        action=Action.REMOVE_PASSKEY,
        submit="Remove passkey",
        confirm=confirm,
        danger=True,
    )


async def creation_options(request: Request) -> Response:
    """JSON options for ``navigator.credentials.create`` (a new challenge)."""
    auth = await sessions.require(request)
    await forms.read(request)
    binding = session_binding(request)
    assert binding is not None  # a signed-in session always has an id
    options = await service.creation_options(Actor.of(request, auth), binding)
    if options is None:
        return JSONResponse({"message": TOO_MANY}, status_code=409)
    return JSONResponse(options)


async def assertion_options(request: Request) -> Response:
    """JSON options for ``navigator.credentials.get`` in the step-up dialog."""
    auth = await sessions.require(request)
    await forms.read(request)
    if auth.user.passkey_count == 0:
        return JSONResponse({"message": "This account has no passkeys."}, status_code=409)
    binding = session_binding(request)
    assert binding is not None
    ctx = get_ctx(request)
    return JSONResponse(await service.assertion_options(ctx, auth.user, binding))


async def add_form(request: Request) -> Response:
    """The Add-a-passkey dialog (password, and the second factor once 2FA is set up)."""
    auth = await sessions.require(request)
    blocked = await guard(request, auth, _add_modal(auth), {})
    assert blocked is not None  # ADD_PASSKEY needs a proof in this very request
    return blocked


async def add(request: Request) -> Response:
    """Check the step-up, then verify and store the new passkey."""
    auth = await sessions.require(request)
    form = await forms.read(request, *FIELDS, "passkey_name", "attestation")
    modal = _add_modal(auth)
    if not form["attestation"] and form["step"] == "verify":
        # Without the browser's answer nothing can be added: say so before any check.
        return show(request, _add_modal(auth, "Your browser did not create a passkey."), 422)
    blocked = await guard(request, auth, modal, form)
    if blocked is not None:
        return blocked
    binding = session_binding(request)
    assert binding is not None
    actor = Actor.of(request, auth)
    added = await service.add(actor, binding, form["passkey_name"], form["attestation"])
    if not added.outcome.ok:
        return show(request, _add_modal(auth, added.outcome.message), added.outcome.status)
    notice = "Passkey added. Your other sessions were signed out."
    return done(await _section(request, auth, notice=notice, codes=added.codes))


async def _target(request: Request, auth: Auth) -> tuple[int, str, bool] | None:
    passkey_id = request.path_params["passkey_id"]
    async with get_ctx(request).db() as db:
        passkey = await repo.owned(db, id_of(auth.user), passkey_id)
    if passkey is None:
        return None
    last = not auth.user.has_totp and auth.user.passkey_count <= 1
    return passkey_id, passkey.name, last


async def remove_form(request: Request) -> Response:
    """The Remove dialog for one passkey."""
    auth = await sessions.require(request)
    target = await _target(request, auth)
    if target is None:
        return await _gone(request, auth)
    blocked = await guard(request, auth, _remove_modal(auth, *target), {})
    assert blocked is not None
    return blocked


async def remove(request: Request) -> Response:
    """Remove one passkey after a fresh step-up; the last one turns 2FA off."""
    auth = await sessions.require(request)
    form = await forms.read(request, *FIELDS)
    target = await _target(request, auth)
    if target is None:
        return await _gone(request, auth)
    blocked = await guard(request, auth, _remove_modal(auth, *target), form)
    if blocked is not None:
        return blocked
    name = await service.remove(Actor.of(request, auth), target[0])
    if name is None:
        return await _gone(request, auth)
    notice = f"Passkey “{name}” removed. Your other sessions were signed out."
    return done(await _section(request, auth, notice=notice))


async def _gone(request: Request, auth: Auth) -> Response:
    return retarget(await _section(request, auth, 404, error=GONE), ids.target(ids.PASSKEYS))


routes = [
    Route(f"{BASE}/options", creation_options, methods=["POST"], name="passkeys.options"),
    Route(f"{BASE}/assert", assertion_options, methods=["POST"], name="passkeys.assert"),
    Route(f"{BASE}/add", add_form, methods=["GET"], name="passkeys.add"),
    Route(f"{BASE}/add", add, methods=["POST"], name="passkeys.add"),
    Route(
        f"{BASE}/{{passkey_id:int}}/remove", remove_form, methods=["GET"], name="passkeys.remove"
    ),
    Route(f"{BASE}/{{passkey_id:int}}/remove", remove, methods=["POST"], name="passkeys.remove"),
]
