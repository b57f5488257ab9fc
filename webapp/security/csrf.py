"""CSRF and body-size guard for every unsafe request.

Browser routes need the session's CSRF token (htmx sends it as a header, plain forms
as a hidden field) and must not come from another site. The API is exempt: it is
authenticated by a header no other site can make a browser send.
"""

from __future__ import annotations

import json
import secrets
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 256 * 1024  # room for a 100 KB field to get a field message, not a 413
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
FIELD = "csrf_token"
HEADER = b"x-csrf-token"


TOO_LARGE = "The request is too large (over 256 KB). Shorten what you sent and try again."


class TooLarge(Exception):
    """The request body is over the limit."""


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body; :class:`TooLarge` as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> str:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return ""


def _form_token(scope: Scope, body: bytes) -> str:
    if not _header(scope, b"content-type").startswith("application/x-www-form-urlencoded"):
        return ""
    try:
        values = parse_qs(body.decode("utf-8"), max_num_fields=200).get(FIELD, [])
    except (UnicodeDecodeError, ValueError):
        return ""
    return values[0] if len(values) == 1 else ""


def token_matches(expected: object, presented: str) -> bool:
    """Constant-time comparison of the session's token with the presented one."""
    if not isinstance(expected, str) or not expected or not presented:
        return False
    return secrets.compare_digest(expected.encode(), presented.encode())


class RequestGuardMiddleware:
    """Cap body sizes; refuse unsafe browser requests without a valid CSRF token."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Buffer the body (bounded), check it, then replay it to the app."""
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        is_api = scope["path"].startswith("/api/")
        try:
            body = await read_body(receive, self.max_body)
        except TooLarge:
            await _refuse(send, 413, TOO_LARGE, is_api)
            return
        if not is_api:
            problem = self._csrf_problem(scope, body)
            if problem:
                await _refuse(send, 403, problem, is_api)
                return

        await self.app(scope, replay(body, receive), send)

    def _csrf_problem(self, scope: Scope, body: bytes) -> str:
        if _header(scope, b"sec-fetch-site") == "cross-site":
            return "Cross-site requests are not allowed. Open the page on this site and retry."
        expected = scope.get("session", {}).get("csrf")
        presented = _header(scope, HEADER) or _form_token(scope, body)
        if not token_matches(expected, presented):
            return (
                "This form has expired or did not come from this site. "
                "Reload the page and try again."
            )
        return ""


async def _refuse(send: Send, status: int, message: str, as_json: bool) -> None:
    if as_json:
        body = json.dumps({"status": "error", "message": message}).encode()
        content_type = b"application/json"
    else:
        body = message.encode()
        content_type = b"text/plain; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out the already-read body once, then the real channel."""
    replayed = False

    async def again() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again
