"""The step-up dialog every sensitive screen shares (API key, 2FA, credentials).

What an action needs is not decided here: :mod:`webapp.security.policy` says which
factors and how fresh, and records the proofs. This module only shows the dialog
asking for what is missing and submits it to the policy.

Most routes use the decorator :func:`step_up`: it signs the user in (or redirects),
reads the form, shows the step-up modal until the policy is satisfied, then calls the
handler and closes the modal; :func:`dialog` is the GET that opens such a modal
first. Routes that need more control call :func:`guard`
themselves: ``None`` means "go ahead"; anything else is the modal to send back (htmx
swaps it into ``#modal-root``).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Concatenate, Generic, ParamSpec, overload

from starlette.requests import Request
from starlette.responses import Response

from webapp import dom_ids as ids
from webapp import forms
from webapp.context import get_ctx
from webapp.security import holds, policy, sessions
from webapp.security.policy import Factor
from webapp.security.sessions import Auth
from webapp.templating import render

FIELDS = ("password", "code", "passkey", "step", "confirm", "stepup_password", "stepup_code")
CONFIRM_MISSING = "Tick the box to confirm, then continue."


@dataclass(frozen=True)
class Modal:
    """What the step-up dialog says and where its form goes."""

    title: str
    intro: str
    url: str
    target: str
    action: str  # a policy.Action, or a name an extension registered
    submit: str = "Continue"
    confirm: str = ""  # label of a required confirmation checkbox, if any
    danger: bool = False
    include: str = ""  # a form whose fields travel with the modal's (edit forms)
    ask_password: bool = True
    ask_code: bool = False
    error: str = ""
    error_field: str = ""
    code: str = ""
    confirmed: bool = False  # keep the box ticked when the password or code was wrong
    ask_passkey: bool = False  # offer "Use a passkey" beside the code (the user has one)
    totp: bool = True  # the user has an authenticator app (else the code is a recovery code)
    name_label: str = ""  # label of a name field (a new passkey's), if any
    name: str = ""
    ceremony: str = ""  # where the browser gets options to create a passkey on submit
    # A choice the action takes (a select), e.g. Re-generate's grace period.
    choice_label: str = ""
    choice_name: str = ""
    choices: tuple[tuple[str, str], ...] = ()  # (value, label); the first is the default
    choice: str = ""

    @property
    def prefix(self) -> str:
        """Field-name prefix: a dialog that carries another form's fields (``include``)
        must not send a second ``password`` beside a broker credential of that name."""
        return "stepup_" if self.include else ""


def show(request: Request, modal: Modal, status_code: int = 200) -> Response:
    """The modal, aimed at ``#modal-root`` whatever the triggering element targeted."""
    headers = {"HX-Retarget": ids.target(ids.MODAL_ROOT), "HX-Reswap": "innerHTML"}
    return render(
        request,
        "partials/stepup_modal.html",
        {"m": modal, "lapsed": modal.ask_password and policy.lapsed(request)},
        status_code=status_code,
        headers=headers,
    )


async def guard(
    request: Request, auth: Auth, modal: Modal, form: dict[str, str]
) -> Response | None:
    """None when the action may go ahead; otherwise the modal to show.

    A held reveal (lock-down, cool-down) raises holds.Held before any password is asked.
    """
    ctx = get_ctx(request)
    chosen = form.get(modal.choice_name, "") if modal.choice_name else ""
    if chosen and chosen not in {value for value, _label in modal.choices}:
        # Only a forged form sends another value: refuse it before any password (an
        # unknown grace period must not quietly become another one).
        raise forms.FormError(422, f"Choose “{modal.choice_label}” from the list offered.")
    holds.check(auth.user, modal.action, ctx.now(), ctx.settings.cooldown_hours)
    submitted = form.get("step") == "verify"
    short = policy.missing(request, auth.user, modal.action)
    asks = policy.needed(auth.user, modal.action) if short else frozenset()
    ask_code = Factor.SECOND in asks
    modal = replace(
        modal,
        ask_password=Factor.PASSWORD in asks,
        ask_code=ask_code,
        ask_passkey=ask_code and auth.user.passkey_count > 0,
        totp=auth.user.has_totp,
        name=form.get("passkey_name", "")[:64],
        choice=chosen,
    )
    if not submitted:
        if not short and not modal.confirm:
            return None
        return show(request, modal)
    if modal.confirm and form.get("confirm") != "yes":
        return show(request, replace(modal, error=CONFIRM_MISSING, error_field="confirm"), 422)
    if not short:
        return None
    outcome = await policy.prove(
        request,
        auth.user,
        modal.action,
        form.get(modal.prefix + "password", ""),
        form.get(modal.prefix + "code", ""),
        passkey=form.get("passkey", ""),
    )
    if outcome.ok:
        return None
    failed = replace(
        modal,
        error=outcome.message,
        error_field=outcome.field,
        code=form.get(modal.prefix + "code", "")[:32],
        confirmed=form.get("confirm") == "yes",
    )
    return show(request, failed, outcome.status)


def done(response: Response) -> Response:
    """Mark a guarded success so the page closes the dialog and returns focus."""
    response.headers["HX-Trigger"] = "stepup-done"
    return response


P = ParamSpec("P")


class Ready(Generic[P]):
    """A modal, and what its handler is called with after the step-up (an account, say)."""

    def __init__(self, modal: Modal, /, *args: P.args, **kwargs: P.kwargs) -> None:
        self.modal = modal
        self.args = args
        self.kwargs = kwargs


Endpoint = Callable[[Request], Awaitable[Response]]
ModalFor = Callable[[Request, Auth], Awaitable["Ready[P] | Response"]]
PlainModalFor = Callable[[Request, Auth], Awaitable["Modal | Response"]]
Handler = Callable[Concatenate[Request, Auth, dict[str, str], P], Awaitable[Response]]


@overload
def step_up(modal_for: PlainModalFor, *fields: str) -> Callable[[Handler[[]]], Endpoint]: ...


@overload
def step_up(modal_for: ModalFor[P], *fields: str) -> Callable[[Handler[P]], Endpoint]: ...


def step_up(
    modal_for: Callable[[Request, Auth], Awaitable[Modal | Ready[...] | Response]], *fields: str
) -> Callable[[Callable[..., Awaitable[Response]]], Endpoint]:
    """Decorate ``handler(request, auth, form, ...)`` so it runs only after a step-up.

    ``modal_for(request, auth)`` returns the :class:`Modal` to show, or a
    :class:`Ready` (the modal plus the handler's further arguments, such as the
    account it found), or a Response (a 404, say) to send instead; ``fields`` are the
    handler's own form fields. The type checker holds the handler's extra parameters
    to what ``modal_for`` hands over.
    """

    def decorate(handler: Callable[..., Awaitable[Response]]) -> Endpoint:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            auth = await sessions.require(request)
            form = await forms.read(request, *FIELDS, *fields)
            ready = await modal_for(request, auth)
            if isinstance(ready, Response):
                return ready
            if isinstance(ready, Modal):
                ready = Ready[[]](ready)
            blocked = await guard(request, auth, ready.modal, form)
            if blocked is not None:
                return blocked
            return done(await handler(request, auth, form, *ready.args, **ready.kwargs))

        return endpoint

    return decorate


def dialog(
    modal_for: Callable[[Request, Auth], Awaitable[Modal | Ready[...] | Response]],
) -> Endpoint:
    """The GET endpoint that opens the step-up dialog ``modal_for`` describes.

    Only for dialogs that always ask first (a confirmation, or a proof in the very
    request), so the guard never lets the GET through to act.
    """

    async def endpoint(request: Request) -> Response:
        auth = await sessions.require(request)
        ready = await modal_for(request, auth)
        if isinstance(ready, Response):
            return ready
        modal = ready if isinstance(ready, Modal) else ready.modal
        blocked = await guard(request, auth, modal, {})
        assert blocked is not None  # the dialog always asks before acting
        return blocked

    return endpoint
