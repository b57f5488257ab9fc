"""Housekeeping while the app runs: prune old security events."""

from __future__ import annotations

import asyncio
import logging

from webapp import faults
from webapp.alerts.compose import LOCK_SECONDS
from webapp.context import AppContext
from webapp.repositories import events, mail, passkeys
from webapp.security import throttle

log = logging.getLogger("webapp.maintenance")
PRUNE_EVERY_SECONDS = 6 * 3600
MAIL_KEEP_SECONDS = LOCK_SECONDS + 86400


async def prune_events(ctx: AppContext) -> int:
    """Delete events older than the retention period; returns how many went."""
    cutoff = ctx.now() - ctx.settings.event_retention_days * 86400
    async with ctx.db() as db:
        removed = await events.prune(db, cutoff)
        # Throttle rows hold typed usernames (real or not): they go once they expire.
        await throttle.prune(db, ctx.now())
        # Sent alerts and their link tokens go once every link in them has expired.
        await mail.prune(db, ctx.now() - MAIL_KEEP_SECONDS)
        # Challenges of ceremonies never finished (a closed dialog) expire after 2 minutes.
        await passkeys.prune_challenges(db, ctx.now())
        await db.commit()
    if removed:
        log.info(
            "pruned %d security events older than %d days",
            removed,
            ctx.settings.event_retention_days,
        )
    return removed


async def run_forever(ctx: AppContext) -> None:
    """Prune now and then every few hours, until cancelled at shutdown."""
    while True:
        try:
            await prune_events(ctx)
        except Exception as exc:  # keep the app serving if one run fails
            reason = faults.storage_fault(exc)
            if reason:  # a full or read-only disk: one line, as for requests
                log.error("pruning security events failed: %s", reason)
            else:
                log.exception("pruning security events failed")
        await asyncio.sleep(PRUNE_EVERY_SECONDS)
