"""Jinja2 set-up: autoescape, StrictUndefined, and the helpers every page uses."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from webapp import __version__, dom_ids
from webapp.security.sessions import csrf_token
from webapp.trading_fields import RULES

PACKAGE = Path(__file__).resolve().parent


def _installed_or_checkout(name: str) -> Path:
    """Inside the package when installed from a wheel; at the top of a checkout."""
    inside = PACKAGE / name
    return inside if inside.is_dir() else PACKAGE.parent / name


TEMPLATE_DIR = _installed_or_checkout("templates")
STATIC_DIR = _installed_or_checkout("static")


def _utc(ts: float | None) -> str:
    if ts is None:
        return "never"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


@pass_context
def _path_for(context: Context, name: str, /, **params: object) -> str:
    """The path of a named route: no scheme or host, so links stay right behind a proxy.

    From the request's app; a page rendered without a request (the 500 page) passes
    ``app`` instead.
    """
    app: Starlette | None = context.get("app")
    if app is None:
        app = context["request"].app
    assert app is not None
    return str(app.url_path_for(name, **params))


def make_templates() -> Jinja2Templates:
    """The app's templates with a strict, autoescaping environment."""
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(TEMPLATE_DIR)]),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["utc"] = _utc
    env.filters["iso"] = _iso
    env.globals["version"] = __version__
    env.globals["path_for"] = _path_for
    env.globals["ids"] = dom_ids  # the ids htmx swaps by, shared with the routes
    env.globals["field_rules"] = RULES  # trading-account inputs take their limits from here
    return Jinja2Templates(env=env)


TEMPLATES = make_templates()


def add_template_dir(folder: Path) -> None:
    """Let an extension keep its templates in its own folder (searched after ours)."""
    loader = TEMPLATES.env.loader
    assert isinstance(loader, ChoiceLoader)
    if not any(getattr(x, "searchpath", None) == [str(folder)] for x in loader.loaders):
        loader.loaders = [*loader.loaders, FileSystemLoader(folder)]


def render(
    request: Request,
    name: str,
    context: Mapping[str, object] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """Render ``name`` with the CSRF token and the signed-in user in context."""
    full: dict[str, object] = {
        "csrf": csrf_token(request),
        "auth": getattr(request.state, "auth", None),
    }
    full.update(context or {})
    return TEMPLATES.TemplateResponse(request, name, full, status_code=status_code, headers=headers)


def retarget(response: Response, target: str) -> Response:
    """Have htmx put ``response`` in place of ``target`` (a whole section of the page)."""
    response.headers["HX-Retarget"] = target
    response.headers["HX-Reswap"] = "outerHTML"
    return response
