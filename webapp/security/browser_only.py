"""Skip middleware that only browser pages need (sessions) on the API and /healthz.

API calls are authenticated by their key header alone: loading a session, parsing
cookies or setting one would be work they never use, on the hottest path.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send


def is_browser_path(path: str) -> bool:
    """False for the JSON API and the liveness probe."""
    return not (path.startswith("/api/") or path == "/healthz")


class BrowserOnly:
    """Run ``inner`` (built around ``app`` with ``options``) only for browser paths."""

    # ``app`` is positional-only, as Starlette's Middleware passes it: an option named
    # "app" then cannot collide with it.
    def __init__(self, app: ASGIApp, /, inner: Any, **options: Any) -> None:
        self.app = app
        self.inner = inner(app, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass API and probe requests straight through."""
        if scope["type"] == "http" and not is_browser_path(scope["path"]):
            await self.app(scope, receive, send)
        else:
            await self.inner(scope, receive, send)
