"""What the API-keys part of the Security page and a key's detail page show."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from webapp import apikey, dialogs, key_rules, routing
from webapp import dom_ids as ids
from webapp.context import get_ctx
from webapp.models import ApiKey, id_of
from webapp.repositories import api_keys
from webapp.security.guard import Modal
from webapp.security.sessions import Auth
from webapp.templating import render

DEFAULT_KEY_ACTIONS = ("view", "masked", "regenerate", "expire_old")  # every key has these
GRACE_CHOICES = tuple((value, label) for value, (_s, label) in key_rules.GRACE.items())


def time_left(seconds: float) -> str:
    """A short "6 d 23 h" or "3 h 20 min" (rounded up to the minute)."""
    minutes = max(1, math.ceil(seconds / 60))
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


@dataclass(frozen=True)
class KeyView:
    """One key as the page shows it: never its secret, only its hint."""

    row: ApiKey
    box_id: str  # the DOM id of its masked / revealed box
    masked: str
    permissions: list[str]
    allow: str
    expired: bool
    expires_soon: bool  # within EXPIRY_WARNING_DAYS
    expires_in: str  # "3 days 4 h" for the warning, "" otherwise
    previous_left: str  # time the old secret still works after Re-generate ("" if none)
    urls: dict[str, str]

    @property
    def id(self) -> int:
        """The key's id."""
        assert self.row.id is not None
        return self.row.id


def _urls(request: Request, row: ApiKey) -> dict[str, str]:
    if row.is_default:  # the help page's routes, without an id
        own = {name: routing.path(request, f"api_key.{name}") for name in DEFAULT_KEY_ACTIONS}
    else:
        own = {
            name: routing.path(request, f"api_keys.{name}", key_id=row.id)
            for name in (*DEFAULT_KEY_ACTIONS, "delete", "limits")
        }
    return {"detail": routing.path(request, "api_keys.detail", key_id=row.id), **own}


def key_view(request: Request, row: ApiKey) -> KeyView:
    """How one key shows, at the app's current time."""
    now = get_ctx(request).now()
    left = None if row.expires_at is None else row.expires_at - now
    soon = left is not None and 0 < left <= key_rules.EXPIRY_WARNING_DAYS * 86400
    previous = (
        time_left(row.prev_until - now)
        if row.prev_until is not None and row.prev_until > now
        else ""
    )
    perms = key_rules.permissions_of(row.permissions)
    return KeyView(
        row=row,
        box_id=ids.api_key_box(id_of(row), row.is_default),
        masked=apikey.masked(row.hint),
        permissions=[p for p in key_rules.PERMISSIONS if p in perms],
        allow=key_rules.allow_summary(row.allow_ips),
        expired=left is not None and left <= 0,
        expires_soon=soon,
        expires_in=time_left(left) if soon and left is not None else "",
        previous_left=previous,
        urls=_urls(request, row),
    )


def form_values(row: ApiKey | None = None) -> dict[str, str]:
    """The New-key / limits form's values (a row's current ones, or the defaults)."""
    if row is None:
        return {"name": "", "allow_ips": "", "expires": "", "perm_read": "yes", "perm_manage": ""}
    values = {
        "name": row.name,
        "allow_ips": key_rules.allow_lines(row.allow_ips),
        "expires": key_rules.expiry_day(row.expires_at) if row.expires_at else "",
    }
    perms = key_rules.permissions_of(row.permissions)
    for permission, field in key_rules.PERMISSION_FIELDS.items():
        values[field] = "yes" if permission in perms else ""
    return values


async def api_keys_context(request: Request, auth: Auth, **extra: Any) -> dict[str, Any]:
    """The default key's box and the list of named keys, plus ``extra`` (notice, form)."""
    assert auth.user.id is not None  # a signed-in user is stored
    async with get_ctx(request).db() as db:
        rows = await api_keys.for_user(db, auth.user.id)
    views = [key_view(request, r) for r in rows]
    default = next((v for v in views if v.row.is_default), None)
    ak: dict[str, Any] = {
        "default": default,
        "named": [v for v in views if not v.row.is_default],
        "can_add": len(views) < key_rules.MAX_KEYS,
        "max": key_rules.MAX_KEYS,
        "permission_labels": key_rules.PERMISSIONS,
        "permission_fields": key_rules.PERMISSION_FIELDS,
        "create_url": routing.path(request, "api_keys.list"),
        "new_url": routing.path(request, "api_keys.new"),
        "values": form_values(),
        "errors": {},
        "form_open": False,
        "error": "",
        "created": None,
        **extra,
    }
    return {"ak": ak, "k": default}


def regenerate_modal(url: str, target: str, name: str) -> Modal:
    """Re-generate: confirm, choose when the old key stops, and the step-up."""
    return dialogs.modal(
        "api_keys.regenerate",
        url,
        target,
        name,
        choice_label="The old key stops working",
        choice_name="grace",
        choices=GRACE_CHOICES,
    )


def expire_modal(url: str, target: str) -> Modal:
    """Expire now: end the old secret's grace period at once."""
    return dialogs.modal("api_keys.expire_old", url, target)


def regenerated_notice(grace: str) -> str:
    """What the page says after Re-generate, by grace period."""
    seconds, label = key_rules.GRACE.get(grace, key_rules.GRACE["now"])
    if not seconds:
        return "New key created. The old key no longer works: update your programs."
    return f"New key created. The old key keeps working until it expires {label}."


def revealed(request: Request, plain: str, notice: str, row: ApiKey) -> Response:
    """A key in full, hiding itself after the reveal period."""
    ctx = get_ctx(request)
    context = {
        "key": plain,
        "seconds": ctx.settings.reveal_seconds,
        "notice": notice,
        "k": key_view(request, row),
    }
    return render(request, "partials/api_key_revealed.html", context)
