"""The base of the app's pure ASGI middlewares: HTTP requests only, the rest passes by."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class HttpMiddleware:
    """Wraps ``app``; ``handle`` sees each HTTP request, other scopes (lifespan) go
    straight through. Pure ASGI: no per-request objects, unlike BaseHTTPMiddleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hand HTTP requests to ``handle``, anything else to the app."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request (subclasses say how)."""
        await self.app(scope, receive, send)
