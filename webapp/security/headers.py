"""Security headers on every response, and no-store on everything but static files."""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from webapp.http_middleware import HttpMiddleware

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)

BASE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
# Raw ASGI header pairs, built once: every response pays for these, the API most often.
_BASE_RAW = [(name.lower().encode(), value.encode()) for name, value in BASE_HEADERS.items()]
_NO_STORE = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
_STATIC = [(b"cache-control", b"no-cache")]
_REPLACED = (b"cache-control", b"pragma", b"strict-transport-security")


# What a response with only its body headers gets appended, by (is_static, is_https):
# the general rule below, worked out once (the JSON API's usual answer takes this path).
_BODY_ONLY = frozenset({b"content-length", b"content-type"})
_TAILS = {
    (static, https): [*_BASE_RAW, *([HSTS] if https else []), *(_STATIC if static else _NO_STORE)]
    for static in (False, True)
    for https in (False, True)
}


def with_security_headers(
    existing: list[tuple[bytes, bytes]], *, is_static: bool, is_https: bool
) -> list[tuple[bytes, bytes]]:
    """The response's headers plus ours; a header the route set itself is kept."""
    if all(name in _BODY_ONLY for name, _ in existing):
        return [*existing, *_TAILS[is_static, is_https]]
    present = {name.lower() for name, _ in existing}
    added = [pair for pair in _BASE_RAW if pair[0] not in present]
    if is_https:
        added.append(HSTS)
    # Pages, partials and API answers may carry secrets: never cache them.
    ours = _STATIC if is_static else _NO_STORE
    kept = [pair for pair in existing if pair[0].lower() not in _REPLACED]
    return [*kept, *added, *ours]


class SecurityHeadersMiddleware(HttpMiddleware):
    """Add the CSP and friends to every HTTP response (pure ASGI: no per-request objects)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap ``send`` to add headers to the response start."""
        is_static = scope["path"].startswith("/static/")
        is_https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                existing = list(message.get("headers", ()))
                message["headers"] = with_security_headers(
                    existing, is_static=is_static, is_https=is_https
                )
            await send(message)

        await self.app(scope, receive, send_with_headers)
