"""The JSON API's envelope and its API-key authentication, shared by the API routes."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from json import encoder as json_encoder
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from webapp import apikey, key_rules
from webapp.api_usage import STATE_KEY
from webapp.context import AppContext, get_ctx
from webapp.security import rate_limit
from webapp.security.api_lookup import Principal
from webapp.security.sessions import client_ip, user_agent

QUERY_NAMES = {"api-key", "api_key", "apikey", "key", "token", "access_token"}


INVALID_KEY = "Invalid API key. Check it, or re-generate it under Settings → Security."


SUSPENDED_KEY = (
    "This API key is suspended: the account was locked. Sign in, unlock it under "
    "Settings → Security, and re-generate the key."
)


CHALLENGE = {"WWW-Authenticate": 'Bearer realm="AutoTrader API"'}

DISALLOWED_ADDRESS = (
    "This API key may not be used from your address ({ip}). Add it to the key's "
    "allow-list under Settings → Security, or use the key from an allowed address."
)
MISSING_PERMISSION = (
    "This API key lacks the '{permission}' permission. Use a key that has it, or "
    "create one under Settings → Security."
)
RATE_LIMITED = "Too many calls with this API key: at most {rate} a second. Retry after {wait} s."


class ApiError(Exception):
    """An API failure with its status, message and extra headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


# What JSONResponse.render does, with the encoder built once instead of per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
# None without json's C speed-ups (not in its type stubs: looked up, not imported).
_C_ENCODER: Callable[..., Any] | None = getattr(json_encoder, "c_make_encoder", None)


_JSON_TYPE = (b"content-type", b"application/json")


class _Envelope(JSONResponse):
    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        # Starlette's init_headers for a body with no headers of its own, written out.
        if headers is not None or self.status_code < 200 or self.status_code in (204, 304):
            super().init_headers(headers)
            return
        self.raw_headers = [(b"content-length", str(len(self.body)).encode("latin-1")), _JSON_TYPE]

    def render(self, content: object) -> bytes:
        if _C_ENCODER is None or not isinstance(content, dict):
            return _ENCODER.encode(content).encode("utf-8")
        # What _ENCODER.encode does for a dict, without building its Python closures
        # per call: the C encoder with _ENCODER's settings and a fresh circular check.
        chunks = _C_ENCODER(
            {},
            _ENCODER.default,
            json_encoder.encode_basestring,
            None,
            ":",
            ",",
            False,
            False,
            False,
        )(content, 0)
        return "".join(chunks).encode("utf-8")


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


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


async def authenticate(request: Request, need: str | None = None) -> Principal:
    """The owner of the request's API key, checked for ``need`` (a permission).

    One indexed look-up, no decryption, no write: expiry, allow-list, rate and
    permission are read from the same row, the usage log is written later
    (webapp/api_usage.py).
    """
    presented = _presented_key(request)
    if not apikey.is_well_formed(presented):
        raise ApiError(401, INVALID_KEY, CHALLENGE)  # a typo: no database query at all
    ctx = get_ctx(request)
    principal = await _owner(ctx, presented)
    if principal is None:
        raise ApiError(401, INVALID_KEY, CHALLENGE)
    now = ctx.now()
    if principal.previous_until is not None and now >= principal.previous_until:
        # The grace period after a Re-generate ran out (the sweep may not have cleared it).
        raise ApiError(401, INVALID_KEY, CHALLENGE)
    # From here on the call is in the usage log (the scope's state dict, which
    # api_usage.note reads; cheaper than building request.state).
    request.scope.setdefault("state", {})[STATE_KEY] = principal
    if principal.suspended:
        raise ApiError(401, SUSPENDED_KEY, CHALLENGE)
    if principal.expires_at is not None and now >= principal.expires_at:
        raise ApiError(401, f"This API key expired on {_day(principal.expires_at)}.", CHALLENGE)
    ip = client_ip(request)  # after the trusted-proxy middleware: the real client
    if not key_rules.address_allowed(principal.allow_ips, ip):
        ctx.usage.refused_address(
            principal.user_id,
            principal.key_id,
            principal.key_name,
            ip,
            user_agent(request),
            now,
        )
        raise ApiError(403, DISALLOWED_ADDRESS.format(ip=ip or "unknown"))
    wait = ctx.rate_limiter.take(principal.key_id, now, principal.key_created)
    if wait > 0:
        seconds = rate_limit.retry_after(wait)
        message = RATE_LIMITED.format(rate=ctx.settings.api_rate_per_second, wait=seconds)
        raise ApiError(429, message, {"Retry-After": seconds})
    if need is not None and need not in principal.permissions:
        raise ApiError(403, MISSING_PERMISSION.format(permission=need))
    return principal


def expires(principal: Principal) -> str | None:
    """When the calling key stops working, ISO 8601 UTC, for /me (None: never).

    The previous secret of a re-generated key stops at the end of its grace period.
    """
    ends = [t for t in (principal.expires_at, principal.previous_until) if t is not None]
    if not ends:
        return None
    return datetime.fromtimestamp(min(ends), UTC).isoformat(timespec="seconds")
