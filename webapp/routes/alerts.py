"""Alerts and lock-down pages: the alert address, switches, Lock / Unlock, and the
links from messages (lock the account, confirm an address), which work signed out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from webapp import forms
from webapp.alerts import address, catalog
from webapp.context import AppContext, get_ctx
from webapp.models import id_of
from webapp.repositories import users
from webapp.sections.alerts import alerts_context, lockdown_context
from webapp.security import policy, sessions
from webapp.security.policy import Action
from webapp.security.sessions import Auth, client_ip, user_agent
from webapp.services import alert_email, lockdown
from webapp.services.actor import Actor
from webapp.templating import render

BASE = "/settings/security"
LINK_GONE = (
    "This link has already been used, has expired, or is not complete. If you still want "
    "to lock your account, sign in and press Lock everything now on the Security page."
)
CONFIRM_GONE = (
    "This confirmation link has already been used, has expired, or is not complete. "
    "Enter the address again on the Security page to get a new one."
)
CONFIRM_REPLACED = "A newer address was entered since this link was sent: use the newest link."


async def _reload(request: Request, auth: Auth) -> Auth:
    async with get_ctx(request).db() as db:
        user = await users.by_id(db, id_of(auth.user))
    assert user is not None
    fresh = Auth(user=user, record_id=auth.record_id)
    request.state.auth = fresh
    return fresh


async def change_email(request: Request) -> Response:
    """Ask for a new alert address behind a fresh step-up; a link confirms it."""
    auth = await sessions.require(request)
    form = await forms.read(request, "email", "password", "code")
    new = address.normalize(form["email"])
    problem = address.problem(new)
    if problem:
        return _email_form(request, auth, {"email": problem}, form["email"][:254])
    outcome = await policy.prove(
        request, auth.user, Action.CHANGE_EMAIL, form["password"], form["code"]
    )
    if not outcome.ok:
        field = "code" if outcome.field == "code" else "password"
        return _email_form(request, auth, {field: outcome.message}, new, outcome.status)
    await alert_email.request_change(Actor.of(request, auth), new)
    auth = await _reload(request, auth)
    notice = (
        f"We sent a confirmation link to {address.masked(new)}. Alerts go there once you "
        "follow it (within 24 hours)."
    )
    return render(request, "partials/alerts.html", alerts_context(request, auth, notice=notice))


def _email_form(
    request: Request, auth: Auth, errors: dict[str, str], value: str, status: int = 422
) -> Response:
    context = {**alerts_context(request, auth, errors), "al_value": value}
    return render(request, "partials/alerts.html", context, status_code=status)


async def switches(request: Request) -> Response:
    """Turn the informational alerts on or off (checkboxes; absent means off)."""
    auth = await sessions.require(request)
    form = await forms.read(request, *catalog.SWITCHES)
    wanted = {column: form[column] == "on" for column in catalog.SWITCHES}
    await alert_email.set_switches(Actor.of(request, auth), wanted)
    auth = await _reload(request, auth)
    context = alerts_context(request, auth, notice="Alert settings saved.")
    return render(request, "partials/alerts.html", context)


async def lock_now(request: Request) -> Response:
    """Lock everything now: no step-up, since it only takes access away."""
    auth = await sessions.require(request)
    await forms.read(request)
    await lockdown.lock_now(Actor.of(request, auth))
    request.session.clear()  # this session was ended with the others
    if request.headers.get("hx-request") == "true":
        return Response("", headers={"HX-Redirect": "/login?locked=1"})
    return RedirectResponse("/login?locked=1", status_code=303)


async def unlock(request: Request) -> Response:
    """Unlock with the password (and the code when enrolled), then offer Re-generate."""
    auth = await sessions.require(request)
    form = await forms.read(request, "password", "code")
    outcome = await policy.prove(request, auth.user, Action.UNLOCK, form["password"], form["code"])
    if not outcome.ok:
        field = "code" if outcome.field == "code" else "password"
        context = lockdown_context(request, auth, {field: outcome.message})
        return render(request, "partials/lockdown.html", context, status_code=outcome.status)
    await lockdown.unlock(Actor.of(request, auth))
    auth = await _reload(request, auth)
    notice = (
        "Unlocked: your API key works again. If it may have leaked, re-generate it now; "
        "programs then need the new key."
    )
    context = lockdown_context(request, auth, notice=notice, unlocked=True)
    return render(request, "partials/lockdown.html", context)


def _page(request: Request, kind: str, state: str, status: int = 200, **extra: str) -> Response:
    context = {"kind": kind, "state": state, "token": "", "message": "", **extra}
    return render(request, "alerts/link.html", context, status)


def _token(request: Request, form: dict[str, str] | None = None) -> str:
    # The token travels in the query string and the form body, never in the path: the
    # access log writes paths, and a token must not end up in a log line.
    raw = form["t"] if form is not None else request.query_params.get("t", "")
    return raw[:64]


def _asking_page(
    kind: str, link_is_valid: Callable[[AppContext, str], Awaitable[bool]], gone: str
) -> Callable[[Request], Awaitable[Response]]:
    """The page behind a link of ``kind``: it asks before acting (a POST), since mail
    scanners open links by themselves; a used or expired link is 410 with ``gone``."""

    async def page(request: Request) -> Response:
        token = _token(request)
        if not await link_is_valid(get_ctx(request), token):
            return _page(request, kind, "gone", 410, message=gone)
        return _page(request, kind, "ask", token=token)

    page.__name__ = page.__qualname__ = f"{kind}_link"  # the route's name
    return page


# "Wasn't you? Lock my account".
lock_link = _asking_page("lock", lockdown.link_is_valid, LINK_GONE)


async def lock_link_submit(request: Request) -> Response:
    """Lock the account of a valid, unused lock link (signed in or not)."""
    token = _token(request, await forms.read(request, "t"))
    ctx = get_ctx(request)
    if not await lockdown.lock_with_link(ctx, token, client_ip(request), user_agent(request)):
        return _page(request, "lock", "gone", 410, message=LINK_GONE)
    request.session.clear()
    return _page(request, "lock", "locked")


confirm_link = _asking_page("confirm", alert_email.link_is_valid, CONFIRM_GONE)


async def confirm_link_submit(request: Request) -> Response:
    """Confirm the alert address of a valid confirmation link (signed in or not)."""
    token = _token(request, await forms.read(request, "t"))
    ctx = get_ctx(request)
    result = await alert_email.confirm(ctx, token, client_ip(request), user_agent(request))
    if result is alert_email.Confirmed.REPLACED:
        return _page(request, "confirm", "gone", 409, message=CONFIRM_REPLACED)
    if result is alert_email.Confirmed.INVALID:
        return _page(request, "confirm", "gone", 410, message=CONFIRM_GONE)
    return _page(request, "confirm", "confirmed")


routes = [
    Route(f"{BASE}/email", change_email, methods=["POST"], name="alerts.email"),
    Route(f"{BASE}/alerts", switches, methods=["POST"], name="alerts.switches"),
    Route(f"{BASE}/lock", lock_now, methods=["POST"], name="lockdown.lock"),
    Route(f"{BASE}/unlock", unlock, methods=["POST"], name="lockdown.unlock"),
    Route("/lock", lock_link, methods=["GET"], name="link.lock"),
    Route("/lock", lock_link_submit, methods=["POST"], name="link.lock"),
    Route("/email/confirm", confirm_link, methods=["GET"], name="link.confirm_email"),
    Route("/email/confirm", confirm_link_submit, methods=["POST"], name="link.confirm_email"),
]
