"""Settings → Security: the page, and the API key's View / Re-generate behind a step-up."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from webapp import apikey
from webapp import dom_ids as ids
from webapp.context import get_ctx
from webapp.models import ApiKey, id_of
from webapp.repositories import api_keys, two_factor
from webapp.sections.account import activity_context, password_context, sessions_context
from webapp.sections.alerts import alerts_context, lockdown_context
from webapp.sections.passkeys import passkeys_context
from webapp.sections.status import pop_recovery_notice, status_context
from webapp.sections.two_factor import section_context
from webapp.security import sessions
from webapp.security.guard import Modal, guard, step_up
from webapp.security.policy import Action
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
        row = await api_keys.get(db, id_of(auth.user))
        left = await two_factor.recovery_codes_left(db, id_of(auth.user))
    pending = two_factor.pending_secret(ctx.keys, auth.user, ctx.now())
    context = {
        "masked": apikey.masked(row.hint) if row else "",
        "key_row": row,
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
    return Modal(
        title="View API key",
        intro="Enter your AutoTrader login password to show your API key.",
        url=f"{BASE}/api-key/view",
        target=ids.target(ids.API_KEY),
        action=Action.VIEW_API_KEY,
        submit="Show key",
    )


async def _regenerate_modal(request: Request, auth: Auth) -> Modal:
    return Modal(
        title="Re-generate API key",
        intro="A new key replaces the current one. Programs using the old key stop working "
        "at once until you give them the new key.",
        url=f"{BASE}/api-key/regenerate",
        target=ids.target(ids.API_KEY),
        action=Action.REGENERATE_API_KEY,
        submit="Re-generate",
        confirm="I understand that the current key stops working immediately.",
        danger=True,
    )


async def masked(request: Request) -> Response:
    """The masked key box (what the revealed key turns back into)."""
    auth = await sessions.require(request)
    ctx = get_ctx(request)
    async with ctx.db() as db:
        row = await api_keys.get(db, id_of(auth.user))
    hint = row.hint if row else "????"
    return render(request, "partials/api_key.html", {"masked": apikey.masked(hint), "key_row": row})


@step_up(_view_modal)
async def view(request: Request, auth: Auth, form: dict[str, str]) -> Response:
    """Reveal the key: at once inside a fresh step-up window, else after the modal."""
    shown = await api_key.reveal(Actor.of(request, auth))
    if shown is None:
        context = {"masked": "", "key_row": None}
        return render(request, "partials/api_key.html", context, status_code=404)
    plain, row = shown
    return _revealed(request, plain, "", row)


async def regenerate_form(request: Request) -> Response:
    """The Re-generate modal: confirmation, plus password unless the window is fresh."""
    auth = await sessions.require(request)
    blocked = await guard(request, auth, await _regenerate_modal(request, auth), {})
    assert blocked is not None  # a confirmation is always asked first
    return blocked


@step_up(_regenerate_modal)
async def regenerate(request: Request, auth: Auth, form: dict[str, str]) -> Response:
    """Replace the key; the old one stops authenticating the moment this commits."""
    plain, row = await api_key.regenerate(Actor.of(request, auth))
    notice = "New key created. The old key no longer works: update your programs."
    return _revealed(request, plain, notice, row)


def _revealed(request: Request, plain: str, notice: str, row: ApiKey | None) -> Response:
    ctx = get_ctx(request)
    context = {"key": plain, "seconds": ctx.settings.reveal_seconds, "notice": notice}
    context["key_row"] = row
    return render(request, "partials/api_key_revealed.html", context)


routes = [
    Route(BASE, page, methods=["GET"], name="security"),
    Route(f"{BASE}/api-key/masked", masked, methods=["GET"], name="api_key.masked"),
    Route(f"{BASE}/api-key/view", view, methods=["POST"], name="api_key.view"),
    Route(
        f"{BASE}/api-key/regenerate", regenerate_form, methods=["GET"], name="api_key.regenerate"
    ),
    Route(f"{BASE}/api-key/regenerate", regenerate, methods=["POST"], name="api_key.regenerate"),
]
