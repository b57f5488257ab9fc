"""The JSON API's envelope and its API-key authentication, shared by the API routes."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse

from webapp import apikey
from webapp.context import AppContext, get_ctx
from webapp.repositories import api_keys
from webapp.security.api_lookup import Principal

QUERY_NAMES = {"api-key", "api_key", "apikey", "key", "token", "access_token"}


INVALID_KEY = "Invalid API key. Check it, or re-generate it under Settings → Security."


SUSPENDED_KEY = (
    "This API key is suspended: the account was locked. Sign in, unlock it under "
    "Settings → Security, and re-generate the key."
)


CHALLENGE = {"WWW-Authenticate": 'Bearer realm="AutoTrader API"'}


class ApiError(Exception):
    """An API failure with its status, message and extra headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


# What JSONResponse.render does, with the encoder built once instead of per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class _Envelope(JSONResponse):
    def render(self, content: object) -> bytes:
        return _ENCODER.encode(content).encode("utf-8")


def ok(result: object, status_code: int = 200) -> JSONResponse:
    """The success envelope."""
    return _Envelope({"status": "ok", "result": result}, status_code=status_code)


def error(
    status: int, message: str, headers: dict[str, str] | None = None, **extra: object
) -> JSONResponse:
    """The error envelope (``extra`` adds keys such as ``fields``)."""
    body = {"status": "error", "message": message, **extra}
    return JSONResponse(body, status_code=status, headers=headers)


def _presented_key(request: Request) -> str:
    scope = request.scope
    if scope["query_string"] and any(name.lower() in QUERY_NAMES for name in request.query_params):
        raise ApiError(400, "Send the API key in the 'api-key' header, never in the URL.")
    # One pass over the raw header list (names arrive lower-cased), as Starlette's
    # Headers would do, without building the object on every call.
    keys: list[bytes] = []
    authorization = None
    for name, value in scope["headers"]:
        if name == b"api-key":
            keys.append(value)
        elif name == b"authorization" and authorization is None:
            authorization = value
    if len(keys) > 1:
        raise ApiError(400, "Send exactly one 'api-key' header.")
    if keys:
        return keys[0].decode("latin-1").strip()
    scheme, _, token = (authorization or b"").decode("latin-1").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    raise ApiError(401, "Missing API key: send it in the 'api-key' header.", CHALLENGE)


async def _owner(ctx: AppContext, presented: str) -> Principal | None:
    """Look the key up under the ring as loaded; only a miss looks at the key file, as
    rotate-keys may have added the key this key's digest is now made with."""
    ring = ctx.key_source.loaded
    principal = await ctx.api_lookup.find(ring.digests(apikey.LOOKUP_PURPOSE, presented))
    if principal is None and (fresh := ctx.keys) is not ring:
        principal = await ctx.api_lookup.find(fresh.digests(apikey.LOOKUP_PURPOSE, presented))
    return principal


async def authenticate(request: Request) -> Principal:
    """The owner of the request's API key; one indexed look-up, no decryption."""
    presented = _presented_key(request)
    if not apikey.is_well_formed(presented):
        raise ApiError(401, INVALID_KEY, CHALLENGE)  # a typo: no database query at all
    ctx = get_ctx(request)
    principal = await _owner(ctx, presented)
    if principal is None:
        raise ApiError(401, INVALID_KEY, CHALLENGE)
    if principal.suspended:
        raise ApiError(401, SUSPENDED_KEY, CHALLENGE)
    now = ctx.now()
    if api_keys.needs_touch(principal.last_used_at, now):
        async with ctx.db() as db:
            await api_keys.touch(db, principal.user_id, now)
            await db.commit()
    return principal
