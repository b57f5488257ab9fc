"""Named API keys on Settings → Security: create, detail and usage log, view,
re-generate with a grace period, expire the old secret, change limits, delete.

Every change goes through a service that checks the policy; the default key's own
routes (the help page's View / Re-generate) live in security_settings.py and share
these templates.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from webapp import dialogs, forms, key_rules, routing
from webapp import dom_ids as ids
from webapp.context import get_ctx
from webapp.models import ApiKey, id_of
from webapp.repositories import api_keys
from webapp.routing import page
from webapp.sections.api_keys import (
    api_keys_context,
    expire_modal,
    form_values,
    key_view,
    regenerate_modal,
    regenerated_notice,
    revealed,
)
from webapp.security import sessions
from webapp.security.guard import FIELDS, Modal, dialog, done, guard, step_up
from webapp.security.sessions import Auth
from webapp.services import api_key as service
from webapp.services.actor import Actor
from webapp.templating import render

BASE = "/settings/security/api-keys"
GONE = "That API key does not exist any more. Reload the page."


def _gone() -> Response:
    return Response(GONE, status_code=404, media_type="text/plain")


async def _owned(request: Request, auth: Auth, *, named: bool = False) -> ApiKey | Response:
    """The user's key in the path, or the 404 to send; with ``named``, the default
    key (whose name and limits are fixed) is refused with a 409 too."""
    async with get_ctx(request).db() as db:
        row = await api_keys.owned(db, id_of(auth.user), request.path_params["key_id"])
    if row is None:
        return _gone()
    if named and row.is_default:
        return Response(service.DEFAULT_FIXED, status_code=409, media_type="text/plain")
    return row


async def _section(
    request: Request, auth: Auth, status_code: int = 200, **extra: object
) -> Response:
    context = await api_keys_context(request, auth, **extra)
    return render(request, "partials/api_keys.html", context, status_code=status_code)


async def _read_limits(
    request: Request,
) -> tuple[dict[str, str], dict[str, str], key_rules.Limits | dict[str, str]]:
    """The key form (with the step-up's fields), its limit fields as typed (to show
    back), and the limits they give or the mistakes by field."""
    form = await forms.read(request, *FIELDS, *key_rules.FORM_FIELDS)
    values = {name: form[name] for name in key_rules.FORM_FIELDS}
    return form, values, key_rules.limits_from_form(form, get_ctx(request).now())


def _limits_context(
    request: Request, row: ApiKey, values: dict[str, str], errors: dict[str, str]
) -> dict[str, object]:
    """What the key's limits form shows (partials/api_key_limits.html)."""
    return {
        "k": key_view(request, row),
        "values": values,
        "errors": errors,
        "permission_labels": key_rules.PERMISSIONS,
        "permission_fields": key_rules.PERMISSION_FIELDS,
    }


async def new_form(request: Request) -> Response:
    """The key list with the New-key form open (nothing is asked until it is sent)."""
    auth = await sessions.require(request)
    return await _section(request, auth, form_open=True)


def _create_modal(request: Request) -> Modal:
    url = routing.path(request, "api_keys.list")
    return dialogs.modal(
        "api_keys.create", url, ids.target(ids.NAMED_KEYS), include="#new-key-form"
    )


async def create(request: Request) -> Response:
    """Check the form, then the step-up, then create the key and show it once."""
    auth = await sessions.require(request)
    form, values, limits = await _read_limits(request)
    if isinstance(limits, dict):
        # Nothing was asked yet: the mistakes come back before any password.
        return await _section(request, auth, 422, form_open=True, values=values, errors=limits)
    blocked = await guard(request, auth, _create_modal(request), form)
    if blocked is not None:
        return blocked
    try:
        shown = await service.create(Actor.of(request, auth), limits)
    except service.KeyRefused as exc:
        return done(await _section(request, auth, exc.status, error=exc.message))
    created = {"key": shown.plain, "name": shown.row.name}
    return done(await _section(request, auth, 201, created=created))


async def detail(request: Request) -> Response:
    """One key: its limits, the old key's time left, and its usage log."""
    auth = await sessions.require(request)
    ctx = get_ctx(request)
    async with ctx.db() as db:
        row = await api_keys.owned(db, id_of(auth.user), request.path_params["key_id"])
        uses = await api_keys.uses(db, row.id) if row and row.id else []
    if row is None:
        return render(request, "error.html", {"status": 404, "message": GONE}, status_code=404)
    context = {**_limits_context(request, row, form_values(row), {}), "uses": uses}
    return render(request, "settings/api_key.html", context)


async def masked(request: Request) -> Response:
    """The masked box a revealed key turns back into."""
    auth = await sessions.require(request)
    row = await _owned(request, auth)
    if isinstance(row, Response):
        return row
    return render(request, "partials/api_key.html", {"k": key_view(request, row)})


async def _view_modal(request: Request, auth: Auth) -> Modal | Response:
    row = await _owned(request, auth)
    if isinstance(row, Response):
        return row
    k = key_view(request, row)
    return dialogs.modal("api_keys.view", k.urls["view"], f"#{k.box_id}", row.name)


@step_up(_view_modal)
async def view(request: Request, auth: Auth, form: dict[str, str]) -> Response:
    """Reveal a named key after the step-up."""
    shown = await service.reveal(Actor.of(request, auth), request.path_params["key_id"])
    if shown is None:
        return _gone()
    return revealed(request, shown[0], "", shown[1])


async def _regenerate_modal(request: Request, auth: Auth) -> Modal | Response:
    row = await _owned(request, auth)
    if isinstance(row, Response):
        return row
    k = key_view(request, row)
    return regenerate_modal(k.urls["regenerate"], f"#{k.box_id}", f"“{row.name}”")


# The Re-generate dialog with the grace-period choice (a confirmation is always asked).
regenerate_form = dialog(_regenerate_modal)


@step_up(_regenerate_modal, "grace")
async def regenerate(request: Request, auth: Auth, form: dict[str, str]) -> Response:
    """Give a named key a new secret, the old one working for the chosen grace period."""
    actor = Actor.of(request, auth)
    shown = await service.regenerate(actor, request.path_params["key_id"], form["grace"])
    if shown is None:
        return _gone()
    return revealed(request, shown[0], regenerated_notice(form["grace"]), shown[1])


async def _expire_modal(request: Request, auth: Auth) -> Modal | Response:
    row = await _owned(request, auth)
    if isinstance(row, Response):
        return row
    k = key_view(request, row)
    return expire_modal(k.urls["expire_old"], f"#{k.box_id}")


@step_up(_expire_modal)
async def expire_old(request: Request, auth: Auth, form: dict[str, str]) -> Response:
    """Stop the old secret of a re-generated named key now."""
    row = await service.expire_previous(Actor.of(request, auth), request.path_params["key_id"])
    if row is None:
        return _gone()
    return render(request, "partials/api_key.html", {"k": key_view(request, row)})


def _limits_modal(request: Request, row: ApiKey) -> Modal:
    url = key_view(request, row).urls["limits"]
    return dialogs.modal(
        "api_keys.limits", url, "#key-limits", row.name, include="#key-limits-form"
    )


async def limits(request: Request) -> Response:
    """Change a named key's name, permissions, allow-list and expiry (after the step-up)."""
    auth = await sessions.require(request)
    form, values, parsed = await _read_limits(request)
    row = await _owned(request, auth, named=True)
    if isinstance(row, Response):
        return row
    if isinstance(parsed, dict):
        return _limits_form(request, row, values, parsed, 422)
    blocked = await guard(request, auth, _limits_modal(request, row), form)
    if blocked is not None:
        return blocked
    try:
        changed = await service.change(Actor.of(request, auth), row.id or 0, parsed)
    except service.KeyRefused as exc:
        return _limits_form(request, row, values, {"name": exc.message}, exc.status)
    if changed is None:
        return _gone()
    return done(_limits_form(request, changed, form_values(changed), {}, notice="Saved."))


def _limits_form(
    request: Request,
    row: ApiKey,
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
    notice: str = "",
) -> Response:
    context = {**_limits_context(request, row, values, errors), "notice": notice}
    return render(request, "partials/api_key_limits.html", context, status_code=status_code)


async def _delete_modal(request: Request, auth: Auth) -> Modal | Response:
    row = await _owned(request, auth, named=True)
    if isinstance(row, Response):
        return row
    url = key_view(request, row).urls["delete"]
    return dialogs.modal("api_keys.delete", url, "#key-detail", row.name)


delete_form = dialog(_delete_modal)  # the Delete dialog (a confirmation is always asked)


@step_up(_delete_modal)
async def delete(request: Request, auth: Auth, form: dict[str, str]) -> Response:
    """Delete a named key at once, then go back to the Security page."""
    try:
        name = await service.delete(Actor.of(request, auth), request.path_params["key_id"])
    except service.KeyRefused as exc:
        return Response(exc.message, status_code=exc.status, media_type="text/plain")
    if name is None:
        return _gone()
    target = routing.path(request, "security") + ids.target(ids.NAMED_KEYS)
    return Response(f"API key “{name}” deleted.", headers={"HX-Redirect": target})


_ONE = f"{BASE}/{{key_id:int}}"
routes = [
    *page(BASE, "api_keys.list", post=create),
    *page(f"{BASE}/new", "api_keys.new", get=new_form),
    *page(_ONE, "api_keys.detail", get=detail),
    *page(f"{_ONE}/masked", "api_keys.masked", get=masked),
    *page(f"{_ONE}/view", "api_keys.view", post=view),
    *page(f"{_ONE}/regenerate", "api_keys.regenerate", get=regenerate_form, post=regenerate),
    *page(f"{_ONE}/expire-old", "api_keys.expire_old", post=expire_old),
    *page(f"{_ONE}/limits", "api_keys.limits", post=limits),
    *page(f"{_ONE}/delete", "api_keys.delete", get=delete_form, post=delete),
]
