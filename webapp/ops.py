"""Operator tasks run from the command line."""

from __future__ import annotations

from webapp import db as database
from webapp import keyring_check, schema
from webapp.config import Settings
from webapp.context import system_clock
from webapp.models import id_of
from webapp.repositories import events, two_factor, users
from webapp.repositories import sessions as records


async def disable_two_factor(settings: Settings, username: str) -> str:
    """Remove a user's 2FA and end all their sessions; returns what was done."""
    await keyring_check.preflight(settings, create=False)  # keys must open the data
    engine = database.make_engine(settings.resolved_database_url)
    try:
        await schema.ensure_current(engine)
        async with database.make_session_factory(engine)() as db:
            user = await users.by_username(db, username)
            if user is None:
                return f"No user named {username!r}; nothing changed."
            had = user.has_totp
            now = system_clock()
            await two_factor.remove(db, user)
            ended = await records.revoke_all(db, id_of(user), now)
            await events.record(
                db, "2fa_removed", now, user_id=user.id, detail="by operator (disable-2fa)"
            )
            await db.commit()
    finally:
        await engine.dispose()
    state = "2FA was on" if had else "2FA was already off"
    return f"2FA removed for {user.username} ({state}); {ended} session(s) signed out."
