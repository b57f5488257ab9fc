"""create_app(settings) -> Starlette: routes, middleware, lifespan, error pages."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles

from webapp import api_auth, api_usage, faults, keyring_check, maintenance, schema
from webapp import db as database
from webapp.access_log import AccessLogMiddleware
from webapp.alerts import delivery
from webapp.api_stack import ApiStack, SplitApp
from webapp.config import Settings
from webapp.context import AppContext, Clock, system_clock
from webapp.errors import ErrorPageMiddleware
from webapp.forms import FormError
from webapp.passwords import Passwords
from webapp.routes import (
    account_safety,
    alerts,
    api,
    api_keys,
    api_trading,
    auth,
    passkeys,
    security_settings,
    security_status,
    trading_accounts,
    two_factor,
)
from webapp.security.api_lookup import ApiKeyLookup
from webapp.security.csrf import RequestGuardMiddleware
from webapp.security.headers import SecurityHeadersMiddleware
from webapp.security.holds import Held
from webapp.security.policy import Denied
from webapp.security.proxies import TrustedProxyMiddleware, parse_networks
from webapp.security.rate_limit import RateLimiter
from webapp.security.sessions import LoginRequired
from webapp.security.webauthn import relying_party
from webapp.templating import STATIC_DIR, render

log = logging.getLogger("webapp")
SESSION_COOKIE = "autotrader_session"
DENIED = "Confirm it's you first: reload the page and try again."


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    if _is_htmx(request):
        # htmx follows HX-Redirect with a full page load, so the modal is not left dangling.
        return PlainTextResponse("Sign in again.", status_code=401, headers={"HX-Redirect": exc.to})
    return RedirectResponse(exc.to, status_code=303)


def _error_response(request: Request, status: int, message: str) -> Response:
    if _is_api(request):
        return api_auth.error(status, message)
    if _is_htmx(request):
        return PlainTextResponse(message, status_code=status)
    return render(request, "error.html", {"status": status, "message": message}, status)


async def _form_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FormError)
    return _error_response(request, exc.status, exc.message)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, api_auth.ApiError)
    return api_auth.error(exc.status, exc.message, exc.headers)


def _slash_redirect(request: Request) -> Response | None:
    """A relative redirect to the same path with or without its trailing slash.

    Starlette's own builds an absolute URL from the Host header; a relative one
    reflects nothing. ``//`` at the start would make it another site's address.
    """
    path = request.url.path
    other = path[:-1] if path.endswith("/") else path + "/"
    if not other or other.startswith("//") or request.method not in ("GET", "HEAD"):
        return None
    scope = {**request.scope, "path": other}
    if not any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
        return None
    query = request.url.query
    return RedirectResponse(other + (f"?{query}" if query else ""), status_code=307)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404 and (redirect := _slash_redirect(request)) is not None:
        return redirect
    messages = {
        404: "This page does not exist. Check the address, or go to the start page.",
        405: "That action is not allowed here. Reload the page and try again.",
    }
    message = messages.get(exc.status_code, str(exc.detail))
    return _error_response(request, exc.status_code, message)


async def _denied(request: Request, exc: Exception) -> Response:
    # Reached only if a route forgot its step-up: the service refused to act.
    assert isinstance(exc, Denied)
    return _error_response(request, 403, DENIED)


async def _held(request: Request, exc: Exception) -> Response:
    # A lock-down or cool-down holds a reveal; the message says why and for how long.
    assert isinstance(exc, Held)
    return _error_response(request, 403, exc.message)


def create_app(
    settings: Settings | None = None,
    clock: Clock = system_clock,
    passwords: Passwords | None = None,
    extra_routes: list[BaseRoute] | None = None,
    mail_worker: bool = True,
    usage_writer: bool = True,
) -> Starlette:
    """Build the app: key ring and engine now, the schema when the lifespan starts.

    ``clock`` and ``passwords`` are injectable so tests can freeze time and use a
    cheaper argon2id profile; ``extra_routes`` adds pages (see docs/extending.md);
    ``mail_worker=False`` leaves alert delivery to explicit calls (tests that step it),
    ``usage_writer=False`` the API usage log's writes to ``api_usage.flush`` calls.
    """
    settings = settings or Settings.from_env()
    relying_party(settings.origin)  # a URL that cannot carry passkeys stops start-up
    key_source = keyring_check.proven_source(settings)  # refuses keys that cannot open the data
    keys = key_source.ring()
    engine = database.make_engine(settings.resolved_database_url)
    ctx = AppContext(
        settings=settings,
        key_source=key_source,
        engine=engine,
        db=database.make_session_factory(engine),
        passwords=passwords or Passwords(),
        clock=clock,
        api_lookup=ApiKeyLookup(engine),
        rate_limiter=RateLimiter.share(
            settings.api_rate_per_second, settings.api_burst, settings.workers
        ),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await schema.ensure_current(engine)
        await ctx.api_lookup.start()
        tasks = [asyncio.create_task(maintenance.run_forever(ctx))]
        if usage_writer:
            # Writes the API keys' usage log off the request path; flushes at shutdown.
            tasks.append(asyncio.create_task(api_usage.run_forever(ctx)))
        if mail_worker:
            tasks.append(asyncio.create_task(delivery.run_forever(ctx)))
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await ctx.api_lookup.close()
        await engine.dispose()

    trusted = parse_networks(settings.trusted_proxies)
    # Pages only: API and probe requests never reach this stack (webapp/api_stack.py).
    middleware = [
        Middleware(TrustedProxyMiddleware, trusted=trusted),
        Middleware(AccessLogMiddleware),
        Middleware(SecurityHeadersMiddleware),
        Middleware(ErrorPageMiddleware),
        Middleware(
            SessionMiddleware,
            secret_key=keys.derive("session-cookie").hex(),
            session_cookie=SESSION_COOKIE,
            max_age=settings.absolute_timeout_seconds,
            same_site="lax",
            https_only=settings.cookie_secure,
        ),
        Middleware(RequestGuardMiddleware),
    ]
    api_routes = [
        # Route matching is a scan, and API calls are the hot path: /api/v1/me first.
        Route("/healthz", faults.healthz, methods=["GET"]),
        *api.routes,
        *api_trading.routes,
        *api.fallback,  # JSON 404 for the rest of /api/
    ]
    routes = [
        *api_routes,  # listed here too: url_for and the slash redirect see every route
        # Only static files are compressed: pages carry secrets next to reflected input,
        # and compressing those invites BREACH-style guessing.
        Mount("/static", GZipMiddleware(StaticFiles(directory=STATIC_DIR)), name="static"),
        *auth.routes,
        *security_settings.routes,
        *api_keys.routes,
        *security_status.routes,
        *two_factor.routes,
        *passkeys.routes,
        *account_safety.routes,
        *alerts.routes,
        *trading_accounts.routes,
        *(extra_routes or []),
    ]
    handlers = {
        LoginRequired: _login_required,
        FormError: _form_error,
        api_auth.ApiError: _api_error,
        HTTPException: _http_error,
        Denied: _denied,
        **faults.HANDLERS,
        Held: _held,
    }
    app = SplitApp(
        api=ApiStack(api_routes, handlers, trusted),
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers=handlers,
    )
    app.router.redirect_slashes = False  # see _slash_redirect
    app.state.ctx = ctx
    return app


def settle_heap() -> None:
    """Exempt everything built so far (modules, the app) from garbage collection.

    The collector's full passes walk every tracked object; after start-up that is
    ~90,000 objects that live as long as the process, and walking them cost several
    microseconds per request. Called once per serving process, never in tests (which
    build many apps in one process and must get them collected).
    """
    gc.freeze()


def worker_app() -> Starlette:
    """The app for one of several uvicorn worker processes (settings from the environment)."""
    from webapp import logs

    settings = Settings.from_env()
    logs.configure(settings.log_level, settings.log_format)
    app = create_app(settings)
    settle_heap()
    return app
