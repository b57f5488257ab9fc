"""Trading Accounts pages: list, add, and View / Edit / Delete behind the step-up guard."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from webapp import dialogs, forms
from webapp import dom_ids as ids
from webapp.brokers import BROKERS, CREDENTIAL_FIELDS
from webapp.context import get_ctx
from webapp.models import TradingAccount, id_of
from webapp.repositories import trading_accounts as repo
from webapp.routing import page
from webapp.security import sessions
from webapp.security.guard import Modal, ModalFor, Ready, dialog, step_up
from webapp.security.sessions import Auth
from webapp.services import trading_accounts as service
from webapp.services.actor import Actor
from webapp.templating import render
from webapp.trading_fields import ALL_FIELDS, PUBLIC_FIELDS

ECHO = 200  # a refused value is shown back whole (up to this), so the message makes sense
BASE = "/trading-accounts"
NOT_FOUND = "No such trading account. Reload Trading Accounts to see yours."


def _broker_rules() -> str:
    """The broker table as JSON for app.js (platforms and required fields per broker)."""
    return json.dumps(
        {b.id: {"platforms": b.platforms, "required": sorted(b.required)} for b in BROKERS.values()}
    )


def _form_context(values: dict[str, str], errors: dict[str, str]) -> dict[str, object]:
    return {
        "brokers": list(BROKERS.values()),
        "credential_fields": CREDENTIAL_FIELDS,
        "broker_rules": _broker_rules(),
        "values": values,
        "errors": errors,
    }


async def index(request: Request) -> Response:
    """The list: nickname, broker, platform, login id, dates; never a credential."""
    auth = await sessions.require(request)
    async with get_ctx(request).db() as db:
        accounts = await repo.list_for(db, id_of(auth.user))
    context = {
        "accounts": accounts,
        "brokers": BROKERS,
        "created": request.query_params.get("added"),
    }
    return render(request, "trading/list.html", context)


async def new_form(request: Request) -> Response:
    """The form for a new account."""
    await sessions.require(request)
    return render(request, "trading/new.html", _form_context({}, {}))


async def create(request: Request) -> Response:
    """Add an account from the form; secrets typed are never sent back."""
    auth = await sessions.require(request)
    data = await forms.read(request, *ALL_FIELDS)
    saved = await service.create(Actor.of(request, auth), data)
    if saved.account is None:
        public = {k: data[k][:ECHO] for k in PUBLIC_FIELDS}
        context = _form_context(public, saved.errors)
        return render(request, "trading/new.html", context, status_code=422)
    return RedirectResponse(f"{BASE}?added=1", status_code=303)


async def _owned(request: Request, auth: Auth) -> TradingAccount | None:
    account_id = request.path_params["account_id"]
    async with get_ctx(request).db() as db:
        return await repo.get_owned(db, id_of(auth.user), account_id)


def _missing(request: Request) -> Response:
    if request.headers.get("hx-request") == "true":
        return Response(NOT_FOUND, status_code=404, media_type="text/plain")
    return render(request, "error.html", {"status": 404, "message": NOT_FOUND}, 404)


def _modal_for(make: Callable[[TradingAccount], Modal]) -> ModalFor[[TradingAccount]]:
    """A step-up modal factory that first finds the user's account (404 otherwise);
    the handler then gets the account as its argument."""

    async def modal_for(request: Request, auth: Auth) -> Ready[[TradingAccount]] | Response:
        account = await _owned(request, auth)
        if account is None:
            return _missing(request)
        return Ready(make(account), account)

    return modal_for


def _view_modal(account: TradingAccount) -> Modal:
    url = f"{BASE}/{account.id}/view"
    target = ids.target(ids.account(id_of(account), "creds"))
    return dialogs.modal("trading.view", url, target, account.pseudo_acc_name)


def _edit_modal(account: TradingAccount) -> Modal:
    url = f"{BASE}/{account.id}/edit"
    target = ids.target(ids.account(id_of(account)))
    return dialogs.modal("trading.edit", url, target, account.pseudo_acc_name)


def _save_modal(account: TradingAccount) -> Modal:
    # The edit form's fields travel with the modal's, so nothing typed is lost.
    return replace(
        _edit_modal(account),
        url=f"{BASE}/{account.id}",
        include=ids.target(ids.account(id_of(account), "form")),
    )


def _delete_modal(account: TradingAccount) -> Modal:
    url = f"{BASE}/{account.id}/delete"
    target = ids.target(ids.account(id_of(account)))
    return dialogs.modal("trading.delete", url, target, account.pseudo_acc_name)


@step_up(_modal_for(_view_modal))
async def view(
    request: Request, auth: Auth, form: dict[str, str], account: TradingAccount
) -> Response:
    """Reveal the credentials for the reveal period, after a step-up."""
    creds = await service.reveal(Actor.of(request, auth), account)
    context = {
        "a": account,
        "creds": creds,
        "labels": CREDENTIAL_FIELDS,
        "seconds": get_ctx(request).settings.reveal_seconds,
    }
    return render(request, "partials/account_credentials.html", context)


async def masked(request: Request) -> Response:
    """The hidden-credentials box a reveal turns back into."""
    auth = await sessions.require(request)
    account = await _owned(request, auth)
    if account is None:
        return _missing(request)
    return render(request, "partials/account_credentials_masked.html", {"a": account})


async def card(request: Request) -> Response:
    """One account's card (what Cancel on the edit form goes back to)."""
    auth = await sessions.require(request)
    account = await _owned(request, auth)
    if account is None:
        return _missing(request)
    return render(request, "partials/account_card.html", {"a": account, "brokers": BROKERS})


@step_up(_modal_for(_edit_modal))
async def edit_form(
    request: Request, auth: Auth, form: dict[str, str], account: TradingAccount
) -> Response:
    """After a step-up, the edit form in place of the card (secret fields start empty)."""
    return _edit_response(request, auth, account, {}, {})


def _edit_response(
    request: Request,
    auth: Auth,
    account: TradingAccount,
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    stored = service.stored_fields(Actor.of(request, auth), account)
    shown = {k: str(v) for k, v in repo.public_view(account).items()} | values
    context = _form_context(shown, errors) | {"a": account, "stored": stored}
    return render(request, "partials/account_edit.html", context, status_code=status_code)


@step_up(_modal_for(_save_modal), *ALL_FIELDS)
async def save(
    request: Request, auth: Auth, form: dict[str, str], account: TradingAccount
) -> Response:
    """Save the edit form; blank secret fields keep their current values."""
    data = {k: form[k] for k in ALL_FIELDS}
    saved = await service.save(Actor.of(request, auth), id_of(account), data)
    if saved is None:
        return _missing(request)
    if saved.account is None:
        current = await _owned(request, auth)
        if current is None:
            return _missing(request)
        values = {k: data[k][:ECHO] for k in PUBLIC_FIELDS}
        return _edit_response(request, auth, current, values, saved.errors, 422)
    context = {"a": saved.account, "brokers": BROKERS, "notice": "Saved."}
    return render(request, "partials/account_card.html", context)


# The Delete modal (confirmation, and password unless the window is fresh).
delete_form = dialog(_modal_for(_delete_modal))


@step_up(_modal_for(_delete_modal))
async def delete(
    request: Request, auth: Auth, form: dict[str, str], account: TradingAccount
) -> Response:
    """Delete after a step-up and a confirmation; the card disappears."""
    name = await service.delete(Actor.of(request, auth), id_of(account))
    async with get_ctx(request).db() as db:
        left = await repo.list_for(db, id_of(auth.user))
    context = {"name": name or "", "empty": not left}
    return render(request, "partials/account_deleted.html", context)


_ONE = f"{BASE}/{{account_id:int}}"
routes = [
    *page(BASE, "trading.list", get=index, post=create),
    *page(f"{BASE}/new", "trading.new", get=new_form),
    *page(_ONE, "trading.card", get=card, post=save),
    *page(f"{_ONE}/view", "trading.view", post=view),
    *page(f"{_ONE}/masked", "trading.masked", get=masked),
    *page(f"{_ONE}/edit", "trading.edit", post=edit_form),
    *page(f"{_ONE}/delete", "trading.delete", get=delete_form, post=delete),
]
