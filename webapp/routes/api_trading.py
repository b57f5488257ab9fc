"""JSON API for trading accounts: list, read, create, update, delete. Never credentials."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from webapp import trading
from webapp.api_auth import ApiError, authenticate, error, ok
from webapp.context import get_ctx
from webapp.key_rules import MANAGE_ACCOUNTS, READ
from webapp.repositories import trading_accounts as repo
from webapp.security import audit

BASE = "/api/v1/trading-accounts"


async def _json_object(request: Request) -> dict[str, object]:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise ApiError(415, "Send a JSON body with Content-Type: application/json.")
    try:
        body = json.loads(await request.body())
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad JSON, bad UTF-8 and integers too long to convert;
        # RecursionError, nesting deeper than any account could need.
        raise ApiError(400, "The body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise ApiError(422, "The body must be a JSON object.")
    return body


def _invalid(errors: dict[str, str]) -> JSONResponse:
    message = "Some fields are not valid: " + ", ".join(sorted(errors)) + "."
    return error(422, message, fields=errors)


def _not_found() -> JSONResponse:
    return error(404, "No such trading account. List yours with GET /api/v1/trading-accounts.")


async def list_accounts(request: Request) -> Response:
    """The key owner's accounts, without credentials."""
    uid = (await authenticate(request, READ)).user_id
    async with get_ctx(request).db() as db:
        accounts = await repo.list_for(db, uid)
    return ok([repo.public_view(a) for a in accounts])


async def create_account(request: Request) -> Response:
    """Create an account from a JSON body."""
    uid = (await authenticate(request, MANAGE_ACCOUNTS)).user_id
    data = await _json_object(request)
    ctx = get_ctx(request)
    async with ctx.db() as db:
        saved = await trading.create(db, ctx.keys, uid, data, from_form=False, now=ctx.now())
        if saved.account is None:
            return _invalid(saved.errors)
        await audit.note(
            db, request, "account_added", uid, f"{saved.account.pseudo_acc_name} (API)"
        )
        await db.commit()
        return ok(repo.public_view(saved.account), status_code=201)


async def get_account(request: Request) -> Response:
    """One account, without credentials."""
    uid = (await authenticate(request, READ)).user_id
    async with get_ctx(request).db() as db:
        account = await repo.get_owned(db, uid, request.path_params["account_id"])
    return ok(repo.public_view(account)) if account else _not_found()


async def update_account(request: Request) -> Response:
    """Change the fields given; absent fields keep their values."""
    uid = (await authenticate(request, MANAGE_ACCOUNTS)).user_id
    data = await _json_object(request)
    ctx = get_ctx(request)
    async with ctx.db() as db:
        account = await repo.get_owned(db, uid, request.path_params["account_id"])
        if account is None:
            return _not_found()
        saved = await trading.update(db, ctx.keys, account, data, from_form=False, now=ctx.now())
        if saved.account is None:
            await db.rollback()
            return _invalid(saved.errors)
        detail = f"{account.pseudo_acc_name}: {', '.join(sorted(data)) or 'nothing'}"
        await audit.note(db, request, "credentials_edited", uid, f"{detail} (API)")
        await db.commit()
        return ok(repo.public_view(account))


async def delete_account(request: Request) -> Response:
    """Remove an account and its credentials."""
    uid = (await authenticate(request, MANAGE_ACCOUNTS)).user_id
    async with get_ctx(request).db() as db:
        account = await repo.get_owned(db, uid, request.path_params["account_id"])
        if account is None:
            return _not_found()
        await repo.delete(db, account)
        await audit.note(db, request, "account_deleted", uid, f"{account.pseudo_acc_name} (API)")
        await db.commit()
    return ok({"deleted": request.path_params["account_id"]})


async def openapi(request: Request) -> Response:
    """The API's OpenAPI 3.1 description."""
    from webapp.openapi import spec

    return JSONResponse(spec())


_ONE = f"{BASE}/{{account_id:int}}"
routes = [
    Route("/api/v1/openapi.json", openapi, methods=["GET"]),
    Route(BASE, list_accounts, methods=["GET"]),
    Route(BASE, create_account, methods=["POST"]),
    Route(_ONE, get_account, methods=["GET"]),
    Route(_ONE, update_account, methods=["PATCH"]),
    Route(_ONE, delete_account, methods=["DELETE"]),
]
