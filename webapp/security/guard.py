"""The step-up guard every sensitive screen shares (API key, 2FA, credentials).

Most routes use the decorator :func:`step_up`: it signs the user in (or redirects),
reads the form, shows the step-up modal until the password (and code) pass or the
window is fresh, then calls the handler and closes the modal. Routes that need more
control call :func:`guard` themselves: ``None`` means "go ahead"; anything else is the
modal to send back (htmx swaps it into ``#modal-root``).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from starlette.requests import Request
from starlette.responses import Response

from webapp import forms
from webapp.security import sessions, stepup
from webapp.security.sessions import Auth
from webapp.templating import render

FIELDS = ("password", "code", "step", "confirm")
CONFIRM_MISSING = "Tick the box to confirm, then continue."


@dataclass(frozen=True)
class Modal:
    """What the step-up dialog says and where its form goes."""

    title: str
    intro: str
    url: str
    target: str
    submit: str = "Continue"
    confirm: str = ""  # label of a required confirmation checkbox, if any
    always_ask: bool = False  # password and code every time, whatever the window
    danger: bool = False
    include: str = ""  # a form whose fields travel with the modal's (edit forms)
    ask_password: bool = True
    ask_code: bool = False
    error: str = ""
    error_field: str = ""
    code: str = ""
    confirmed: bool = False  # keep the box ticked when the password or code was wrong


def _needs_code(modal: Modal, auth: Auth) -> bool:
    if modal.always_ask:
        return auth.user.totp_secret is not None
    return stepup.needs_code(auth.user)


def show(request: Request, modal: Modal, status_code: int = 200) -> Response:
    """The modal, aimed at ``#modal-root`` whatever the triggering element targeted."""
    headers = {"HX-Retarget": "#modal-root", "HX-Reswap": "innerHTML"}
    return render(
        request,
        "partials/stepup_modal.html",
        {"m": modal, "lapsed": modal.ask_password and stepup.has_lapsed(request)},
        status_code=status_code,
        headers=headers,
    )


async def guard(
    request: Request, auth: Auth, modal: Modal, form: dict[str, str]
) -> Response | None:
    """None when the action may go ahead; otherwise the modal to show."""
    submitted = form.get("step") == "verify"
    window = not modal.always_ask and stepup.is_fresh(request)
    modal = replace(
        modal, ask_password=not window, ask_code=not window and _needs_code(modal, auth)
    )
    if not submitted:
        if window and not modal.confirm:
            return None
        return show(request, modal)
    if modal.confirm and form.get("confirm") != "yes":
        return show(request, replace(modal, error=CONFIRM_MISSING, error_field="confirm"), 422)
    if window:
        return None
    outcome = await stepup.verify(
        request, auth.user, form.get("password", ""), form.get("code", ""), with_code=modal.ask_code
    )
    if outcome.ok:
        return None
    failed = replace(
        modal,
        error=outcome.message,
        error_field=outcome.field,
        code=form.get("code", "")[:32],
        confirmed=form.get("confirm") == "yes",
    )
    return show(request, failed, outcome.status)


def done(response: Response) -> Response:
    """Mark a guarded success so the page closes the dialog and returns focus."""
    response.headers["HX-Trigger"] = "stepup-done"
    return response


ModalFor = Callable[[Request, Auth], Awaitable["Modal | Response"]]
Handler = Callable[[Request, Auth, dict[str, str]], Awaitable[Response]]


def step_up(modal_for: ModalFor, *fields: str) -> Callable[[Handler], Callable]:
    """Decorate ``handler(request, auth, form)`` so it runs only after a step-up.

    ``modal_for(request, auth)`` returns the :class:`Modal` to show (or a Response,
    such as a 404, to send instead); ``fields`` are the handler's own form fields.
    """

    def decorate(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            auth = await sessions.require(request)
            form = await forms.read(request, *FIELDS, *fields)
            modal = await modal_for(request, auth)
            if isinstance(modal, Response):
                return modal
            blocked = await guard(request, auth, modal, form)
            if blocked is not None:
                return blocked
            return done(await handler(request, auth, form))

        return endpoint

    return decorate
