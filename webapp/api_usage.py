"""The API keys' usage log and last-used times, written off the request path.

An API call only appends to an in-process queue (:class:`UsageQueue`, which holds a
key's newest calls only); a task in each worker writes the queue in one transaction
every second, and once more at shutdown. That write also moves
each key's last-used time and address forward and trims its log to the newest 100
calls, so the API itself stays read-only. (Before several keys, the hot path wrote
last-used itself at most once a minute; the batch replaces that rule.)

The same task records the throttled "used from a disallowed address" events, and
every minute ends the grace periods of re-generated keys that ran out (the event says
when the old key stopped; the API refuses it from that moment whether or not this
sweep has run).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from datetime import UTC, datetime

from starlette.types import Scope

from webapp import faults
from webapp.apikey import mask_in
from webapp.context import AppContext
from webapp.repositories import api_keys, events
from webapp.usage_queue import Use

log = logging.getLogger("webapp.api_usage")
FLUSH_SECONDS = 1.0
SWEEP_SECONDS = 60.0
STATE_KEY = "api_principal"  # request.state attribute authenticate() sets


def utc(ts: float) -> str:
    """A time as the activity details write it."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


async def flush(ctx: AppContext) -> int:
    """Write what the queue holds in one transaction; returns how many calls."""
    uses, notes = ctx.usage.take()
    if not uses and not notes:
        return 0
    async with ctx.db() as db:
        await api_keys.log_uses(db, uses)
        for note in notes:
            await events.record(
                db,
                note.kind,
                note.at,
                user_id=note.user_id,
                ip=note.ip,
                user_agent=note.agent,
                detail=note.detail,
            )
        await db.commit()
    return len(uses)


async def end_grace_periods(ctx: AppContext) -> int:
    """Clear previous secrets whose grace period is over and record it; returns how many."""
    now = ctx.now()
    ended = 0
    async with ctx.db() as db:
        for row in await api_keys.previous_ended(db, now):
            until = row.prev_until
            assert until is not None
            if await api_keys.end_previous(db, row, until):
                ended += 1
                detail = f"{row.name}: the old key stopped at {utc(until)}"
                await events.record(
                    db, "api_key_previous_expired", now, user_id=row.user_id, detail=detail
                )
        await db.commit()
    return ended


async def run_forever(ctx: AppContext) -> None:
    """Flush every second and sweep grace periods every minute;
    flush once more when cancelled at shutdown."""
    next_sweep = 0.0
    try:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await _guarded(flush(ctx), "writing the API usage log")
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + SWEEP_SECONDS
                await _guarded(end_grace_periods(ctx), "ending API key grace periods")
    finally:
        await _guarded(flush(ctx), "writing the API usage log at shutdown")


async def _guarded(work: Awaitable[object], what: str) -> None:
    try:
        await work
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # keep serving: a usage log is not worth an outage
        reason = faults.storage_fault(exc)
        if reason:
            log.error("%s failed: %s", what, reason)
        else:
            log.exception("%s failed", what)


def note(scope: Scope, status: int) -> None:
    """Queue an API call that named a key for the key's usage log (webapp/api_stack.py
    calls this once the response is sent).

    authenticate() leaves the key's principal in the scope's state; the path is logged
    without its query string, and anything shaped like a key is masked (a key pasted
    into a path must not land in the log).
    """
    state = scope.get("state")
    principal = state.get(STATE_KEY) if state else None
    if principal is None:
        return
    ctx: AppContext = scope["app"].state.ctx
    client = scope.get("client") or ("", 0)
    path = mask_in(scope["path"])[:200]
    method = scope["method"][:8]
    use = Use(principal.key_id, ctx.now(), method, path, status, client[0], principal.user_id)
    ctx.usage.add(use)
