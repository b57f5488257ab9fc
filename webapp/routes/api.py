"""The JSON API under /api/v1/, authenticated by the ``api-key`` header."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from webapp import key_rules
from webapp.api_auth import authenticate, error, expires, ok


async def me(request: Request) -> Response:
    """Who the key belongs to, and the calling key: name, permissions, expiry.

    Any valid key may ask (no permission needed): it describes only itself.
    """
    who = await authenticate(request)
    return ok(
        {
            "username": who.username,
            "twoFactor": {
                "enrolled": who.enrolled,
                "login": who.login_2fa,
                "credentials": who.credentials_2fa,
            },
            "key": {
                "name": who.key_name,
                "permissions": [p for p in key_rules.PERMISSIONS if p in who.permissions],
                "expiresAt": expires(who),
            },
        }
    )


async def not_found(request: Request) -> Response:
    """Unknown API paths answer in JSON too."""
    return error(404, "No such API endpoint. See /api/v1/openapi.json for the list.")


routes = [Route("/api/v1/me", me, methods=["GET"])]
# Mounted after every other API route (app.py), so it only catches unknown paths.
fallback = [
    Route("/api/{rest:path}", not_found, methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
]
