"""Deliver queued messages off the request path: SMTP when configured, else .eml files.

The queue is the ``mail_outbox`` table, written in the same transaction as the event
that caused the message: nothing is lost when a worker restarts, and an action never
waits for (or fails because of) a mail server. A background task in each worker polls
it; a conditional UPDATE claims each message, so two workers never send one twice.
Failures are retried with exponential backoff, then given up with a log line.
"""

from __future__ import annotations

import asyncio
import logging
import os
from email.message import EmailMessage
from pathlib import Path

from webapp.alerts import compose, smtp
from webapp.context import AppContext
from webapp.models import MailOutbox
from webapp.repositories import mail, users

log = logging.getLogger("webapp.alerts")
POLL_SECONDS = 5.0
BATCH = 20
LEASE_SECONDS = 300.0  # a claim whose worker died is retried after this
MAX_ATTEMPTS = 10
BACKOFF_BASE = 60.0
BACKOFF_CAP = 3600.0


def backoff(attempts: int) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones (1 min doubling, ≤ 1 h)."""
    return min(BACKOFF_BASE * 2.0 ** min(attempts - 1, 16), BACKOFF_CAP)


def outbox_dir(ctx: AppContext) -> Path:
    """Where messages go as files when no SMTP server is configured."""
    return ctx.settings.data_dir / "outbox"


def _write_eml(folder: Path, name: str, message: EmailMessage) -> Path:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / f"{name}.eml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(message.as_bytes())
    return path


async def _send(ctx: AppContext, row: MailOutbox, message: EmailMessage) -> None:
    server = smtp.parse_url(ctx.settings.smtp_url)
    if server is None:
        name = f"{int(row.at)}-{row.kind}-{row.id[:8]}"
        path = await asyncio.to_thread(_write_eml, outbox_dir(ctx), name, message)
        log.info("no SMTP server configured: message %s written to %s", row.kind, path)
        return
    await asyncio.to_thread(smtp.send, server, message)


def _describe(exc: Exception) -> str:
    # Only the kind of failure and the SMTP status: server replies can quote the address.
    code = getattr(exc, "smtp_code", None)
    return f"{type(exc).__name__}{f' {code}' if code else ''}"


async def deliver_one(ctx: AppContext, row: MailOutbox) -> bool:
    """Claim and attempt one message; True when this call delivered it."""
    now = ctx.now()
    async with ctx.db() as db:
        if not await mail.claim(db, row, now + LEASE_SECONDS):
            await db.rollback()
            return False
        await db.commit()
    attempts = row.attempts + 1
    try:
        async with ctx.db() as db:
            user = await users.by_id(db, row.user_id)
            message = compose.build(db, ctx.settings, ctx.keys, row, user, now) if user else None
            await db.commit()  # the link token is stored before the message can arrive
        if message is None:
            async with ctx.db() as db:
                await mail.settle(db, row.id, gave_up_at=now, error="no address")
                await db.commit()
            return False
        await _send(ctx, row, message)
    except Exception as exc:  # any failure: count it, retry later, never raise
        error = _describe(exc)
        async with ctx.db() as db:
            if attempts >= MAX_ATTEMPTS:
                await mail.settle(db, row.id, gave_up_at=now, error=error)
                log.error(
                    "message %s (%s) not delivered after %d attempts: %s",
                    row.id,
                    row.kind,
                    attempts,
                    error,
                )
            else:
                await mail.settle(db, row.id, retry_at=now + backoff(attempts), error=error)
                log.warning(
                    "message %s (%s) not delivered (attempt %d), will retry: %s",
                    row.id,
                    row.kind,
                    attempts,
                    error,
                )
            await db.commit()
        return False
    async with ctx.db() as db:
        await mail.settle(db, row.id, sent_at=ctx.now())
        await db.commit()
    return True


async def deliver_due(ctx: AppContext) -> int:
    """Attempt every message that is due now; returns how many were delivered."""
    async with ctx.db() as db:
        rows = await mail.due(db, ctx.now(), BATCH)
    delivered = 0
    for row in rows:
        delivered += await deliver_one(ctx, row)
    return delivered


async def run_forever(ctx: AppContext) -> None:
    """Deliver what is due every few seconds, until cancelled at shutdown."""
    while True:
        try:
            await deliver_due(ctx)
        except Exception:  # keep the worker (and the app) alive whatever one round does
            log.exception("delivering security alerts failed")
        await asyncio.sleep(POLL_SECONDS)
