"""The last line of defence: an unexpected error becomes a proper 500 page.

It sits inside the security-headers middleware (so the page carries the CSP and
``no-store``) and outside the session (so it renders without session data, whatever
broke). The connection stays usable: the error is answered, not re-raised.
"""

from __future__ import annotations

import json
import logging

from starlette.types import Message, Receive, Scope, Send

from webapp.http_middleware import HttpMiddleware
from webapp.templating import TEMPLATES

log = logging.getLogger("webapp")
MESSAGE = "Something went wrong on our side. Try again."


def page(status: int, message: str, app: object) -> bytes:
    """The error page as bytes, rendered with no session, user or CSRF token."""
    template = TEMPLATES.env.get_template("error.html")
    context = {"status": status, "message": message, "csrf": "", "auth": None, "app": app}
    return template.render(context).encode()


def _body(scope: Scope) -> tuple[bytes, bytes]:
    path = scope.get("path", "")
    headers = dict(scope.get("headers") or [])
    if path.startswith("/api/"):
        body = json.dumps({"status": "error", "message": MESSAGE}).encode()
        return body, b"application/json"
    if headers.get(b"hx-request") == b"true":
        return MESSAGE.encode(), b"text/plain; charset=utf-8"
    return page(500, MESSAGE, scope["app"]), b"text/html; charset=utf-8"


class ErrorPageMiddleware(HttpMiddleware):
    """Answer any exception from the app below with a 500 in the request's format."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; on an exception before the response began, send the 500."""
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            log.exception(
                "unhandled %s on %s %s", type(exc).__name__, scope.get("method"), scope["path"]
            )
            if started:
                raise  # half a response is out: only closing the connection is honest
            body, content_type = _body(scope)
            length = str(len(body)).encode()
            headers = [(b"content-type", content_type), (b"content-length", length)]
            await send({"type": "http.response.start", "status": 500, "headers": headers})
            await send({"type": "http.response.body", "body": body})
