"""Master-key rotation: re-encrypt every secret and recompute every digest in one go.

Safe to interrupt: the new key is written to the ring first, the data moves in a
single transaction, and until that commits every row still opens with the old key
(look-ups try the digest under each key). Running it again finishes the job.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp import apikey, schema
from webapp import db as database
from webapp.config import Settings
from webapp.models import ApiKey, MailOutbox, TradingAccount, User
from webapp.vault import KeyRing, KeySource, aad

# (model, column, associated-data builder) for every ciphertext column.
_USER_FIELDS = ("totp_secret", "totp_pending", "recovery_key", "email", "email_pending")


@dataclass
class Report:
    """What a rotation did."""

    key_id: str
    added_key: bool
    counts: Counter
    unused_keys: set[str]

    def summary(self) -> str:
        """Human-readable lines for the operator."""
        lines = [f"Active key: {self.key_id}" + (" (new)" if self.added_key else "")]
        for what, n in sorted(self.counts.items()):
            lines.append(f"  re-encrypted {n} {what}")
        if self.unused_keys:
            lines.append(f"No secret uses {', '.join(sorted(self.unused_keys))} any more.")
        return "\n".join(lines)


def _move(ring: KeyRing, token: str, associated: str) -> str:
    return ring.encrypt(ring.decrypt(token, associated), associated)


async def _rotate_rows(
    db: AsyncSession, ring: KeyRing, on_row: Callable[[], None] | None
) -> Counter:
    counts: Counter = Counter()
    for user in (await db.exec(select(User))).all():
        for name in _USER_FIELDS:
            token = getattr(user, name)
            if token is not None:
                setattr(user, name, _move(ring, token, aad("users", user.id, name)))
                counts[f"users.{name}"] += 1
        db.add(user)
        if on_row:
            on_row()
    for row in (await db.exec(select(ApiKey))).all():
        plain = ring.decrypt_text(row.secret, aad("api_keys", row.user_id, "secret"))
        row.secret = ring.encrypt(plain, aad("api_keys", row.user_id, "secret"))
        row.digest = ring.digest(apikey.LOOKUP_PURPOSE, plain)
        counts["api_keys"] += 1
        db.add(row)
        if on_row:
            on_row()
    for account in (await db.exec(select(TradingAccount))).all():
        bound = aad("trading_accounts", f"{account.user_id}/{account.id}", "credentials")
        account.credentials = _move(ring, account.credentials, bound)
        counts["trading_accounts"] += 1
        db.add(account)
        if on_row:
            on_row()
    for mail in (
        await db.exec(select(MailOutbox).where(col(MailOutbox.recipient).is_not(None)))
    ).all():
        assert mail.recipient is not None
        mail.recipient = _move(ring, mail.recipient, aad("mail_outbox", mail.id, "recipient"))
        counts["mail_outbox.recipient"] += 1
        db.add(mail)
    return counts


async def key_ids_in_use(db: AsyncSession, ring: KeyRing) -> set[str]:
    """The ids of the keys that sealed any stored ciphertext."""
    used: set[str] = set()
    for user in (await db.exec(select(User))).all():
        used |= {ring.key_id_of(getattr(user, n)) for n in _USER_FIELDS if getattr(user, n)}
    used |= {ring.key_id_of(r.secret) for r in (await db.exec(select(ApiKey))).all()}
    used |= {ring.key_id_of(a.credentials) for a in (await db.exec(select(TradingAccount))).all()}
    mails = await db.exec(
        select(MailOutbox.recipient).where(col(MailOutbox.recipient).is_not(None))
    )
    used |= {ring.key_id_of(r) for r in mails.all() if r}
    return used


async def rotate(
    settings: Settings, *, remove_unused: bool = False, on_row: Callable[[], None] | None = None
) -> Report:
    """Add a key (key file; unless a rotation is unfinished) and move every secret to it."""
    source = KeySource(settings.master_keys, settings.data_dir)
    engine = database.make_engine(settings.resolved_database_url)
    try:
        await schema.ensure_current(engine)
        sessions = database.make_session_factory(engine)
        async with sessions() as db:
            in_use = await key_ids_in_use(db, source.ring())
        added = False
        if in_use <= {source.ring().active_id} and not source.from_env:
            source.append_key()
            added = True
        ring = source.ring()
        async with sessions() as db:
            counts = await _rotate_rows(db, ring, on_row)
            await db.commit()  # all or nothing: one transaction
        unused = set(ring.key_ids) - {ring.active_id}
        if remove_unused and unused:
            await drop_unused_keys(settings)
        return Report(ring.active_id, added, counts, unused)
    finally:
        await engine.dispose()


async def drop_unused_keys(settings: Settings) -> set[str]:
    """Remove from the key file every key that no stored secret uses; returns their ids."""
    source = KeySource(settings.master_keys, settings.data_dir)
    if source.from_env:
        raise ValueError("keys come from AUTOTRADER_MASTER_KEYS: remove old ones there")
    engine = database.make_engine(settings.resolved_database_url)
    try:
        async with database.make_session_factory(engine)() as db:
            in_use = await key_ids_in_use(db, source.ring())
    finally:
        await engine.dispose()
    unused = set(source.ring().key_ids) - in_use - {source.ring().active_id}
    if unused:
        source.remove_keys(unused)
    return unused
