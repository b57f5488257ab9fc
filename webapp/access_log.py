"""One log line per request: method, path (never the query string), status, time."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webapp.apikey import mask_in

log = logging.getLogger("webapp.access")


class AccessLogMiddleware:
    """Log requests without query strings, headers or bodies (they can hold secrets)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request and log its outcome."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            client = scope.get("client") or ("-", 0)
            log.info(
                "%s %s %s %d %.1fms",
                client[0],
                scope["method"],
                mask_in(scope["path"]),
                status,
                (time.perf_counter() - started) * 1000,
            )
