"""Settings → Security: the page, and the default API key's View / Re-generate (with
a grace period) / Expire-now behind a step-up. Named keys: routes/api_keys.py."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from webapp import dialogs, routing
from webapp import dom_ids as ids
from webapp.context import get_ctx
from webapp.models import id_of
from webapp.repositories import api_keys, two_factor
from webapp.sections.account import activity_context, password_context, sessions_context
from webapp.sections.alerts import alerts_context, lockdown_context
from webapp.sections.api_keys import (
    api_keys_context,
    expire_modal,
    key_view,
    regenerate_modal,
    regenerated_notice,
    revealed,
)
from webapp.sections.passkeys import passkeys_context
from webapp.sections.status import pop_recovery_notice, status_context
from webapp.sections.two_factor import section_context
from webapp.security import sessions
from webapp.security.guard import Modal, dialog, step_up
from webapp.security.sessions import Auth
from webapp.services import api_key
from webapp.services.actor import Actor
from webapp.templating import render

BASE = "/settings/security"


async def page(request: Request) -> Response:
    """The Security page: API key (masked) and two-factor authentication."""
    auth = await sessions.require(request)
    ctx = get_ctx(request)
    async with ctx.db() as db:
        left = await two_factor.recovery_codes_left(db, id_of(auth.user))
    pending = two_factor.pending_secret(ctx.keys, auth.user, ctx.now())
    context = {
        **await api_keys_context(request, auth),
        "tf": section_context(request, auth, pending, left),
        "codes_left_after_recovery": pop_recovery_notice(request),
        **await status_context(request, auth),
        **await activity_context(request, auth),
        **await sessions_context(request, auth),
        **password_context(auth),
        **alerts_context(request, auth),
        **lockdown_context(request, auth),
        **await passkeys_context(request, auth),
    }
    return render(request, "settings/security.html", context)


async def _view_modal(request: Request, auth: Auth) -> Modal:
    url = routing.path(request, "api_key.view")
    return dialogs.modal("api_key.view", url, ids.target(ids.API_KEY))


async def _regenerate_modal(request: Request, auth: Auth) -> Modal:
    url = routing.path(request, "api_key.regenerate")
    return regenerate_modal(url, ids.target(ids.API_KEY), "API key")


async def _expire_modal(request: Request, auth: Auth) -> Modal:
    return expire_modal(routing.path(request, "api_key.expire_old"), ids.target(ids.API_KEY))


async def masked(request: Request) -> Response:
    """The masked key box (what the revealed key turns back into)."""
    auth = await sessions.require(request)
    async with get_ctx(request).db() as db:
        row = await api_keys.get(db, id_of(auth.user))
    if row is None:
        return Response("This account has no API key.", status_code=404)
    return render(request, "partials/api_key.html", {"k": key_view(request, row)})


@step_up(_view_modal)
async def view(request: Request, auth: Auth, form: dict[str, str]) -> Response:
    """Reveal the key: at once inside a fresh step-up window, else after the modal."""
    shown = await api_key.reveal(Actor.of(request, auth))
    if shown is None:
        return Response("This account has no API key.", status_code=404)
    plain, row = shown
    return revealed(request, plain, "", row)


# The Re-generate modal: confirmation, plus password unless the window is fresh.
regenerate_form = dialog(_regenerate_modal)


@step_up(_regenerate_modal, "grace")
async def regenerate(request: Request, auth: Auth, form: dict[str, str]) -> Response:
    """Replace the key; the old one stops now or after the chosen grace period."""
    shown = await api_key.regenerate(Actor.of(request, auth), grace=form["grace"])
    if shown is None:
        return Response("This account has no API key.", status_code=404)
    plain, row = shown
    return revealed(request, plain, regenerated_notice(form["grace"]), row)


@step_up(_expire_modal)
async def expire_old(request: Request, auth: Auth, form: dict[str, str]) -> Response:
    """Stop the default key's old secret now, before its grace period ends."""
    row = await api_key.expire_previous(Actor.of(request, auth))
    if row is None:
        return Response("This account has no API key.", status_code=404)
    return render(request, "partials/api_key.html", {"k": key_view(request, row)})


_KEY = f"{BASE}/api-key"
routes = [
    Route(BASE, page, methods=["GET"], name="security"),
    *routing.page(f"{_KEY}/masked", "api_key.masked", get=masked),
    *routing.page(f"{_KEY}/view", "api_key.view", post=view),
    *routing.page(f"{_KEY}/regenerate", "api_key.regenerate", get=regenerate_form, post=regenerate),
    *routing.page(f"{_KEY}/expire-old", "api_key.expire_old", post=expire_old),
]
