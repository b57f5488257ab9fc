"""Faults around the app answer 503 with a reason, never a 500 with a traceback.

A full disk, a read-only or locked database, an unreachable database server: the
request gets 503 "The server cannot save changes right now; nothing was changed" (as
a page, an htmx fragment or the API's JSON envelope), the fault is remembered, and
``/healthz`` answers 503 with the reason until a probe write succeeds again — so the
app recovers by itself once space returns. A stored secret that the loaded keys cannot
open answers 503 too and makes ``/healthz`` re-check the key ring against the data.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from webapp import api_auth
from webapp.keyring_check import find_problem
from webapp.templating import render
from webapp.vault import VaultError

log = logging.getLogger("webapp.faults")
CANNOT_SAVE = "The server cannot save changes right now; nothing was changed."
CANNOT_OPEN = "The server cannot open stored secrets right now; nothing was changed."
RETRY_AFTER = "5"
PROBE_EVERY_SECONDS = 1.0

# SQLite primary result codes (extended codes carry them in the low byte).
_SQLITE = {
    5: "the database is busy",
    6: "the database is busy",
    8: "the database is read-only",
    10: "the database cannot be read or written (an I/O error: the disk may be full)",
    13: "the disk is full",
    14: "the database file cannot be opened",
}
# PostgreSQL SQLSTATE classes and codes.
_POSTGRES = {
    "53100": "the database server's disk is full",
    "25006": "the database is read-only",
    "55P03": "the database is busy",
    "40P01": "the database is busy",
    "40001": "the database is busy",
}
_POSTGRES_CLASSES = {
    "08": "the database server cannot be reached",
    "53": "the database server is out of resources",
    "57": "the database server is not accepting work",
}
_ERRNO = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EIO: "the disk cannot be read or written (I/O error)",
    errno.EACCES: "the data folder is not writable",
}
_BUSY = "the database is busy"


def storage_fault(exc: BaseException) -> str | None:
    """Why storage failed, when ``exc`` is a storage fault rather than a bug."""
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(cause, sqlite3.Error):
        code = getattr(cause, "sqlite_errorcode", None)
        return _SQLITE.get(code & 0xFF) if code is not None else None
    sqlstate = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    if isinstance(sqlstate, str):
        return _POSTGRES.get(sqlstate) or _POSTGRES_CLASSES.get(sqlstate[:2])
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return "the database server cannot be reached"
    if isinstance(cause, ConnectionError):
        return "the database server cannot be reached"
    if isinstance(cause, OSError):
        return _ERRNO.get(cause.errno or 0)
    return None


def advice(reason: str) -> str:
    """What an operator does about a storage fault."""
    if "full" in reason or "quota" in reason:
        return "free some space"
    if "read-only" in reason or "not writable" in reason:
        return "make the database and its folder writable"
    if "busy" in reason:
        return "wait a moment"
    if "cannot be opened" in reason:
        return "make sure the database file and its folder exist and are writable"
    return "check the database location (--data-dir, AUTOTRADER_DATABASE_URL) and the disk"


@dataclass
class FaultState:
    """What went wrong lately, for ``/healthz``; cleared by a probe that succeeds."""

    storage: str | None = None
    keys: str | None = None
    probed_at: float = 0.0


def state_of(request: Request) -> FaultState:
    """The app's fault record (made on first use)."""
    app_state = request.app.state
    if not hasattr(app_state, "faults"):
        app_state.faults = FaultState()
    faults: FaultState = app_state.faults
    return faults


def _answer(request: Request, message: str) -> Response:
    headers = {"Retry-After": RETRY_AFTER}
    if request.url.path.startswith("/api/"):
        return api_auth.error(503, message, headers)
    if request.headers.get("hx-request") == "true":
        return PlainTextResponse(message, status_code=503, headers=headers)
    context = {"status": 503, "message": message}
    return render(request, "error.html", context, 503, headers=headers)


async def storage_error(request: Request, exc: Exception) -> Response:
    """503 for a storage fault; anything else goes on to the server-error page."""
    reason = storage_fault(exc)
    if reason is None:
        raise exc
    # One line, no SQL: statements and parameters may carry digests and ciphertexts.
    log.error("%s: %s %s answered 503", reason, request.method, request.url.path)
    if reason != _BUSY:
        state_of(request).storage = reason
    return _answer(request, CANNOT_SAVE)


async def vault_error(request: Request, exc: Exception) -> Response:
    """503 when a stored secret does not open with the loaded keys."""
    log.error("a stored secret did not open: %s %s answered 503", request.method, request.url.path)
    state_of(request).keys = state_of(request).keys or "a stored secret did not open"
    return _answer(request, CANNOT_OPEN)


HANDLERS = {DBAPIError: storage_error, OSError: storage_error, VaultError: vault_error}


async def _probe_storage(request: Request) -> str | None:
    ctx = request.app.state.ctx
    try:
        # A write that changes nothing but still goes to disk (a WAL frame, a tuple).
        async with ctx.engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = version_num"))
    except (DBAPIError, OSError) as exc:
        return storage_fault(exc) or type(exc).__name__
    return None


async def healthz(request: Request) -> Response:
    """Ready: 200 "ok"; after a fault, 503 with the reason until a probe shows it gone."""
    state = state_of(request)
    ctx = request.app.state.ctx
    ctx.keys  # noqa: B018 (one stat(): notices a changed or missing key file)
    now = time.monotonic()
    if (state.storage or state.keys) and now - state.probed_at >= PROBE_EVERY_SECONDS:
        state.probed_at = now
        if state.storage:
            state.storage = await _probe_storage(request)
        if state.keys:
            async with ctx.engine.connect() as conn:
                state.keys = await find_problem(conn, ctx.keys, "the loaded key ring")
    if state.storage:
        return PlainTextResponse(f"not ready: {state.storage}", status_code=503)
    if state.keys:
        return PlainTextResponse(f"not ready: {state.keys}", status_code=503)
    if ctx.key_source.problem:
        return PlainTextResponse(f"ok; warning: {ctx.key_source.problem}")
    return PlainTextResponse("ok")
