"""Route tables and route paths: one line per path, one name per path.

A page's routes are written one path a line, ``page(path, "area.name", get=…, post=…)``:
the two methods of one path sit side by side and share the name that templates
(``path_for``) and Python (:func:`path`) build links from.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Endpoint = Callable[[Request], Awaitable[Response]]


def page(
    path: str, name: str, *, get: Endpoint | None = None, post: Endpoint | None = None
) -> list[Route]:
    """The routes of one path: its GET and its POST endpoint, both under ``name``."""
    endpoints = {"GET": get, "POST": post}
    routes = [
        Route(path, endpoint, methods=[method], name=name)
        for method, endpoint in endpoints.items()
        if endpoint is not None
    ]
    if not routes:
        raise ValueError(f"route {name!r} has neither a GET nor a POST endpoint")
    return routes


def path(request: Request, name: str, /, **params: object) -> str:
    """The path of a named route (no scheme or host: links stay right behind a proxy)."""
    return str(request.app.url_path_for(name, **params))
