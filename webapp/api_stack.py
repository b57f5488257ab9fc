"""The JSON API and ``/healthz`` on a lean ASGI path beside the browser middleware.

API calls are the hot path and use none of what pages need (session, cookies, CSRF,
templates). :class:`SplitApp` sends ``/api/`` and ``/healthz`` to :class:`ApiStack`,
which does in one layer what the browser stack spreads over six: trusted-proxy
addresses, a bounded request body, route matching, the app's exception handlers (the
JSON error envelope, 503 for storage faults), a JSON 500 for anything unexpected, the
security headers (added to the response before it is sent, so no ``send`` wrapper) and
the access-log line. Every answer carries exactly the headers the browser stack gives.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from webapp import access_log, api_usage
from webapp.security import csrf
from webapp.security.headers import with_security_headers
from webapp.security.proxies import Network, forwarded

log = logging.getLogger("webapp")
Handler = Callable[[Request, Exception], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]
ERROR_MESSAGE = "Something went wrong on our side. Try again."
TOO_LARGE = "The request is too large (over 256 KB). Shorten what you sent and try again."


def is_api_path(path: str) -> bool:
    """True for the JSON API and the liveness probe: the paths :class:`ApiStack` serves."""
    return path.startswith("/api/") or path == "/healthz"


def _json_error(status: int, message: str) -> Response:
    body = json.dumps({"status": "error", "message": message}).encode()
    return Response(body, status_code=status, media_type="application/json")


class ApiStack:
    """Serve the API routes with the security headers, access log and error envelopes."""

    def __init__(
        self,
        routes: Sequence[BaseRoute],
        handlers: Mapping[type[Exception], Handler],
        trusted: list[Network],
        max_body: int = csrf.MAX_BODY_BYTES,
    ) -> None:
        for route in routes:
            # Endpoints are called directly (no per-route ASGI wrapper): only plain
            # ``async def endpoint(request)`` routes qualify.
            if not (isinstance(route, Route) and inspect.isfunction(route.endpoint)):
                raise TypeError(f"{route!r}: API routes must be Route(path, function)")
        self.routes = routes
        # Paths without parameters that no earlier route matches: such a path's own
        # route is the first match, so a dictionary look-up finds it (the loop below
        # still decides every other case: methods, 405s, parameters, root paths).
        self.static: dict[str, Route] = {}
        for index, route in enumerate(routes):
            assert isinstance(route, Route)
            earlier = routes[:index]
            if not route.param_convertors and not any(
                r.path_regex.match(route.path)  # type: ignore[attr-defined]
                for r in earlier
            ):
                self.static.setdefault(route.path, route)
        self.handlers = dict(handlers)
        self.trusted = trusted
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one HTTP request (``scope["app"]`` is the Starlette app)."""
        started = time.perf_counter()
        if self.trusted:
            scope = forwarded(scope, self.trusted)
        response = None
        if scope["method"] not in csrf.SAFE_METHODS:
            try:
                body = await csrf.read_body(receive, self.max_body)
            except csrf.TooLarge:
                response = _json_error(413, TOO_LARGE)
            else:
                receive = csrf.replay(body, receive)
        request = Request(scope, receive)
        status = 500
        try:
            if response is None:
                response = await self._respond(request)
            status = response.status_code
            response.raw_headers = with_security_headers(
                response.raw_headers, is_static=False, is_https=scope.get("scheme") == "https"
            )
            await response(scope, receive, send)
        finally:
            access_log.note(scope, status, started)
            api_usage.note(scope, status)

    async def _respond(self, request: Request) -> Response:
        try:
            return await self._route(request)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is not None:
                try:
                    return await handler(request, exc)
                except Exception as again:  # a handler that re-raises: the fault is not its kind
                    exc = again
            scope = request.scope
            log.exception(
                "unhandled %s on %s %s", type(exc).__name__, scope["method"], scope["path"]
            )
            return _json_error(500, ERROR_MESSAGE)

    async def _route(self, request: Request) -> Response:
        """Starlette's matching: the first full match wins; a path match alone is a 405."""
        scope = request.scope
        found = self.static.get(scope["path"])
        if (
            found is not None
            and not scope.get("root_path")
            and (not found.methods or scope["method"] in found.methods)
        ):
            # What route.matches would add for a full match without parameters.
            scope["endpoint"] = found.endpoint
            scope["path_params"] = dict(scope.get("path_params", {}))
            endpoint: Endpoint = found.endpoint
            return await endpoint(request)
        partial = None
        for route in self.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                scope.update(child)
                endpoint = route.endpoint  # type: ignore[attr-defined]
                return await endpoint(request)
            if match is Match.PARTIAL and partial is None:
                partial = route
        if partial is not None:
            allowed = ", ".join(partial.methods or ())  # type: ignore[attr-defined]
            raise HTTPException(405, headers={"Allow": allowed})
        raise HTTPException(404)

    def _handler_for(self, exc: Exception) -> Handler | None:
        for cls in type(exc).__mro__:
            if cls in self.handlers:
                return self.handlers[cls]
        return None


class SplitApp(Starlette):
    """The Starlette app, with API and probe requests sent past its middleware stack.

    Everything else (pages, static files, the lifespan) goes through the full stack
    built from ``middleware``; ``scope["app"]`` is this app on both paths, so routes find
    ``app.state`` as usual.
    """

    def __init__(self, *, api: ApiStack, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.api = api

    def build_middleware_stack(self) -> ASGIApp:
        """The browser stack, behind a check that routes API paths to :attr:`api`."""
        browser = super().build_middleware_stack()
        api = self.api

        async def split(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and is_api_path(scope["path"]):
                await api(scope, receive, send)
            else:
                await browser(scope, receive, send)

        return split
