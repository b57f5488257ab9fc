"""One log line per request: method, path (never the query string), status, time."""

from __future__ import annotations

import logging
import time

from starlette.types import Message, Receive, Scope, Send

from webapp import logs
from webapp.apikey import mask_in
from webapp.http_middleware import HttpMiddleware

log = logging.getLogger("webapp.access")


class AccessLogMiddleware(HttpMiddleware):
    """Log requests without query strings, headers or bodies (they can hold secrets)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request and log its outcome."""
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
            note(scope, status, started)


def note(scope: Scope, status: int, started: float) -> None:
    """Log one finished request (``started``: its ``time.perf_counter()``)."""
    if not log.isEnabledFor(logging.INFO):
        return
    client = (scope.get("client") or ("-", 0))[0]
    elapsed = (time.perf_counter() - started) * 1000
    # Formatted here, with no arguments left for the record: a path may hold a "%".
    line = f"{client} {scope['method']} {mask_in(scope['path'])} {status} {elapsed:.1f}ms"
    if not logs.write_info(log, line):  # the same line, without a LogRecord, when it can
        log.info(line)
