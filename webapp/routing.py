"""Route tables and route paths: one row per path, one name per path.

A page's routes are written as rows of (path, name, GET handler, POST handler): the
two methods of one path sit side by side and share the name ``area.name`` that
templates (``path_for``) and Python (:func:`path`) build links from.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Endpoint = Callable[[Request], Awaitable[Response]]
Row = tuple[str, str, Endpoint | None, Endpoint | None]


def table(base: str, area: str, rows: Sequence[Row]) -> list[Route]:
    """Routes for ``rows`` of (path under ``base``, name, GET handler, POST handler),
    each named ``area.name``; a missing handler means the method is not allowed."""
    routes = []
    for path, name, get, post in rows:
        for method, endpoint in (("GET", get), ("POST", post)):
            if endpoint is not None:
                routes.append(Route(base + path, endpoint, methods=[method], name=f"{area}.{name}"))
    return routes


def path(request: Request, name: str, /, **params: object) -> str:
    """The path of a named route (no scheme or host: links stay right behind a proxy)."""
    return str(request.app.url_path_for(name, **params))
