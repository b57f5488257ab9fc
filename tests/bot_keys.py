"""Helpers for the bot-key tests: the New-key form with its step-up, rows and events,
and every route that changes a key, read from the app's route table."""

from __future__ import annotations

import httpx
from sqlmodel import select
from starlette.routing import Route

from tests.helpers import PASSWORD, Trader, key_in
from webapp.models import ApiKey, SecurityEvent

NEW = "/settings/security/api-keys"
ACCOUNT = {
    "broker": "zerodha",
    "pseudoAccName": "Bot",
    "loginId": "AB9",
    "password": "broker-pass",
    "totpKey": "JBSWY3DPEHPK3PXP",
    "apiKey": "kite-key",
    "apiSecret": "kite-secret",
}


async def create_key(
    trader: Trader,
    name: str = "VPS bot",
    *,
    read: bool = True,
    manage: bool = False,
    allow: str = "",
    expires: str = "",
    code: str = "",
) -> httpx.Response:
    """Submit the New-key form with the step-up filled in."""
    # The dialog carries the form's fields, so its own are prefixed (guard.Modal.prefix).
    data = {"step": "verify", "stepup_password": PASSWORD, "name": name, "allow_ips": allow}
    data |= {"expires": expires, "perm_read": "yes" if read else ""}
    data |= {"perm_manage": "yes" if manage else ""}
    if code:
        data["stepup_code"] = code
    return await trader.hx("POST", NEW, data)


async def new_key(trader: Trader, **kwargs: object) -> str:
    """Create a key and return it in full (shown once, in the 201 response)."""
    response = await create_key(trader, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 201, response.text
    return key_in(response.text)


async def key_row(app, name: str) -> ApiKey:
    async with app.state.ctx.db() as db:
        return (await db.exec(select(ApiKey).where(ApiKey.name == name))).one()


async def events(app, kind: str) -> list[SecurityEvent]:
    async with app.state.ctx.db() as db:
        return list((await db.exec(select(SecurityEvent).where(SecurityEvent.kind == kind))).all())


def changing_paths(app, key_id: int) -> list[str]:
    """Every POST path of the default key's and the named keys' routes (for ``key_id``),
    from the route table: a route added later is attacked too."""
    paths = []
    for route in app.routes:
        if not isinstance(route, Route) or "POST" not in (route.methods or ()):
            continue
        if route.name.startswith("api_keys."):
            params = {"key_id": key_id} if "key_id" in route.param_convertors else {}
            paths.append(app.url_path_for(route.name, **params))
        elif route.name.startswith("api_key."):
            paths.append(app.url_path_for(route.name))
    return paths
