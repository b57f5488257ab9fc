"""Signed-in sessions: a random id in the signed cookie, a record on the server.

The cookie (signed, not encrypted) holds only ids and times. Its session id is checked
against the server-side record on every request, so sign-out, "sign out everywhere"
and timeouts end a session even for someone holding a copy of the cookie.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from starlette.requests import Request

from webapp.context import AppContext, get_ctx
from webapp.models import User, id_of
from webapp.repositories import sessions as records
from webapp.repositories import users

_UNSET = object()

# Why the last session ended without a sign-out here: "revoked" (elsewhere) or "expired".
ENDED = "ended"


class LoginRequired(Exception):
    """The request needs a signed-in user; ``to`` says where to send the browser."""

    def __init__(self, to: str = "/login") -> None:
        super().__init__(to)
        self.to = to


@dataclass(frozen=True)
class Auth:
    """The signed-in user of a request and the id of their session record."""

    user: User
    record_id: str


def record_id_for(sid: str) -> str:
    """The server-side record id of a cookie's session id (its SHA-256)."""
    return hashlib.sha256(sid.encode()).hexdigest()


def client_ip(request: Request) -> str:
    """The client's address as the server sees it."""
    return request.client.host if request.client else ""


def user_agent(request: Request) -> str:
    """The browser's User-Agent, cut to a storable size."""
    return request.headers.get("user-agent", "")[:256]


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def sign_in(request: Request, user: User) -> None:
    """Start a fresh session for ``user`` (a new id: no fixation); end the old one."""
    ctx = get_ctx(request)
    sid = secrets.token_urlsafe(32)
    now = ctx.now()
    previous = request.session.get("sid")
    async with ctx.db() as db:
        if isinstance(previous, str):
            # Signing in again from a signed-in browser must not leave its old session live.
            await records.revoke(db, record_id_for(previous), now)
        await records.create(
            db, record_id_for(sid), id_of(user), now, client_ip(request), user_agent(request)
        )
        await db.commit()
    request.session.clear()
    request.session.update({"sid": sid, "signed_in_at": now, "csrf": secrets.token_urlsafe(32)})


async def sign_out(request: Request) -> None:
    """End the request's session on the server and forget the cookie."""
    sid = request.session.get("sid")
    if isinstance(sid, str):
        ctx = get_ctx(request)
        async with ctx.db() as db:
            await records.revoke(db, record_id_for(sid), ctx.now())
            await db.commit()
    request.session.clear()


async def current(request: Request) -> Auth | None:
    """The signed-in user, or None when the session is missing, ended or timed out."""
    cached = getattr(request.state, "auth", _UNSET)
    if cached is None or isinstance(cached, Auth):
        return cached
    auth = await _load(request)
    request.state.auth = auth
    return auth


async def require(request: Request) -> Auth:
    """The signed-in user; otherwise raise LoginRequired."""
    auth = await current(request)
    if auth is None:
        pending = "pending_uid" in request.session
        raise LoginRequired("/login/code" if pending else "/login")
    return auth


async def _load(request: Request) -> Auth | None:
    sid = request.session.get("sid")
    if not isinstance(sid, str):
        return None
    ctx = get_ctx(request)
    now = ctx.now()
    async with ctx.db() as db:
        record = await records.get(db, record_id_for(sid))
        if record is None or record.revoked_at is not None:
            request.session.clear()
            request.session[ENDED] = "revoked"  # for the sign-in page's message
            return None
        if _expired(ctx, record.created_at, record.last_seen_at, now):
            await records.revoke(db, record.id, now)
            await db.commit()
            request.session.clear()
            request.session[ENDED] = "expired"
            return None
        user = await users.by_id(db, record.user_id)
        if user is None:
            request.session.clear()
            return None
        # Writing last-seen at most every minute saves writes, but a short idle timeout
        # needs finer steps or active users would time out.
        every = min(records.LAST_SEEN_GRANULARITY, ctx.settings.idle_timeout_seconds / 4)
        if records.touch(record, now, every):
            db.add(record)
            await db.commit()
        return Auth(user=user, record_id=record.id)


def _expired(ctx: AppContext, created: float, last_seen: float, now: float) -> bool:
    settings = ctx.settings
    idle = now - last_seen > settings.idle_timeout_seconds
    return idle or now - created > settings.absolute_timeout_seconds
