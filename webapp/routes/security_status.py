"""The Security page's live status strip and danger zone, refreshed after each change."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from webapp.sections.status import status_context
from webapp.security import sessions
from webapp.templating import render

BASE = "/settings/security"


async def status(request: Request) -> Response:
    """The status strip, with the danger zone out of band (both follow every change)."""
    auth = await sessions.require(request)
    context = {**await status_context(request, auth), "refresh": True}
    return render(request, "partials/status.html", context)


routes = [Route(f"{BASE}/status", status, methods=["GET"], name="security.status")]
