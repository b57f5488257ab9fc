"""Security page sections: recent activity, active sessions, and changing the password."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from webapp import forms
from webapp.context import get_ctx
from webapp.sections.account import activity_context, password_context, sessions_context
from webapp.security import policy, sessions
from webapp.security.policy import Action
from webapp.security.sessions import Auth
from webapp.services import account
from webapp.services.actor import Actor
from webapp.templating import render

BASE = "/settings/security"
MAX_ID = 2**63 - 1  # ids are 64-bit in both databases; larger ones cannot exist
SAME_AS_CURRENT = "The new password is your current one. Choose a different password."


async def more_activity(request: Request) -> Response:
    """Older events, for "Show more"."""
    auth = await sessions.require(request)
    raw = request.query_params.get("before", "")
    before = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 19 else 0
    if not 0 < before <= MAX_ID:
        return Response("Reload the page to see your activity.", 400, media_type="text/plain")
    context = await activity_context(request, auth, before)
    return render(request, "partials/activity_rows.html", context)


async def sign_out_one(request: Request) -> Response:
    """End one of the user's sessions (another device, or this one)."""
    auth = await sessions.require(request)
    await forms.read(request)
    target = request.path_params["record_id"]
    if target == auth.record_id:
        await sessions.sign_out(request)
        return Response("", headers={"HX-Redirect": "/login"})
    ended = await account.sign_out_one(Actor.of(request, auth), target)
    notice = (
        "Signed out. That device must sign in again."
        if ended
        else "That session has already ended."
    )
    context = await sessions_context(request, auth, notice)
    return render(request, "partials/sessions.html", context)


async def sign_out_others(request: Request) -> Response:
    """End every session of the user except this one."""
    auth = await sessions.require(request)
    await forms.read(request)
    ended = await account.sign_out_others(Actor.of(request, auth))
    notice = f"Signed out of {ended} other session{'s' if ended != 1 else ''}."
    context = await sessions_context(request, auth, notice)
    return render(request, "partials/sessions.html", context)


async def change_password(request: Request) -> Response:
    """Change the password: current one (and a code with 2FA), always; others signed out."""
    auth = await sessions.require(request)
    form = await forms.read(request, "password", "code", "passkey", "new_password")
    problem = forms.password_problem(form["new_password"], auth.user.username)
    if problem:
        return _password_form(request, auth, {"new_password": problem})
    outcome = await policy.prove(
        request,
        auth.user,
        Action.CHANGE_PASSWORD,
        form["password"],
        form["code"],
        passkey=form["passkey"],
    )
    if not outcome.ok:
        field = "code" if outcome.field == "code" else "password"
        return _password_form(request, auth, {field: outcome.message}, outcome.status)
    ctx = get_ctx(request)
    if await ctx.passwords.verify(auth.user.password_hash, form["new_password"]):
        return _password_form(request, auth, {"new_password": SAME_AS_CURRENT})
    new_hash = await ctx.passwords.hash(form["new_password"])
    await account.change_password(Actor.of(request, auth), new_hash)
    notice = "Password changed. Your other sessions were signed out."
    return render(request, "partials/password.html", password_context(auth, notice=notice))


def _password_form(
    request: Request, auth: Auth, errors: dict[str, str], status: int = 422
) -> Response:
    return render(request, "partials/password.html", password_context(auth, errors), status)


routes = [
    Route(f"{BASE}/activity", more_activity, methods=["GET"], name="activity"),
    Route(
        f"{BASE}/sessions/others/sign-out",
        sign_out_others,
        methods=["POST"],
        name="sessions.sign_out_others",
    ),
    Route(
        f"{BASE}/sessions/{{record_id:str}}/sign-out",
        sign_out_one,
        methods=["POST"],
        name="sessions.sign_out",
    ),
    Route(f"{BASE}/password", change_password, methods=["POST"], name="password"),
]
