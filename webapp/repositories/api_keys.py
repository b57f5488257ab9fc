"""API keys: issue, list, reveal, roll with a grace period, delete, and their usage log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import NamedTuple

from sqlalchemy import delete, func, insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp import apikey, key_rules
from webapp.models import ApiKey, ApiKeyUse, User
from webapp.repositories import row_locks
from webapp.sealed_columns import API_KEY_PREV_SECRET, API_KEY_SECRET
from webapp.usage_queue import USES_KEPT, Use
from webapp.vault import KeyRing

MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL


class _Sealed(NamedTuple):
    secret: str  # ciphertext bound to the owner
    digest: str  # keyed digest for the look-up
    hint: str  # last four characters, for the masked key


def _sealed(keys: KeyRing, user_id: int, plain: str) -> _Sealed:
    return _Sealed(
        keys.encrypt(plain, API_KEY_SECRET.bound_to(user_id)),
        keys.digest(apikey.LOOKUP_PURPOSE, plain),
        apikey.hint(plain),
    )


def _seal(keys: KeyRing, row: ApiKey, plain: str) -> None:
    row.secret, row.digest, row.hint = _sealed(keys, row.user_id, plain)


async def issue(session: AsyncSession, keys: KeyRing, user_id: int, now: float) -> str:
    """Create or replace the user's default key at once (no grace period)."""
    plain = apikey.generate()
    row = await get(session, user_id)
    if row is None:
        row = ApiKey(
            user_id=user_id,
            name=key_rules.DEFAULT_NAME,
            is_default=True,
            permissions=key_rules.ALL,
            created_at=now,
            **_sealed(keys, user_id, plain)._asdict(),
        )
    else:
        _seal(keys, row, plain)
    row.created_at = now
    row.last_used_at = None
    row.last_used_ip = ""
    _clear_previous(row)
    session.add(row)
    await session.flush()
    return plain


async def create(
    session: AsyncSession, keys: KeyRing, user_id: int, limits: key_rules.Limits, now: float
) -> tuple[str, ApiKey]:
    """Add a named key; returns it in full (shown once) and its row."""
    plain = apikey.generate()
    sealed = _sealed(keys, user_id, plain)._asdict()
    row = ApiKey(user_id=user_id, is_default=False, created_at=now, **asdict(limits), **sealed)
    session.add(row)
    await session.flush()
    return plain, row


async def get(session: AsyncSession, user_id: int) -> ApiKey | None:
    """The user's default key row (ciphertext and hint), if any."""
    query = select(ApiKey).where(col(ApiKey.user_id) == user_id, col(ApiKey.is_default))
    return (await session.exec(query)).first()


async def owned(session: AsyncSession, user_id: int, key_id: int) -> ApiKey | None:
    """One of the user's keys by id (another user's id finds nothing)."""
    if not 0 < key_id <= MAX_ID:
        return None  # beyond any row id: it cannot exist (and would overflow the driver)
    query = select(ApiKey).where(col(ApiKey.user_id) == user_id, col(ApiKey.id) == key_id)
    return (await session.exec(query)).first()


async def for_user(session: AsyncSession, user_id: int) -> Sequence[ApiKey]:
    """The user's keys, the default first, then by creation."""
    query = (
        select(ApiKey)
        .where(col(ApiKey.user_id) == user_id)
        .order_by(col(ApiKey.is_default).desc(), col(ApiKey.id))
    )
    return (await session.exec(query)).all()


async def lock_owner(session: AsyncSession, user_id: int) -> None:
    """Hold the user's row until commit, so concurrent creations count one at a time.

    Without it each of a burst of New-key requests counts the keys before any of them
    commits, and all pass the limit (webapp/repositories/row_locks.py).
    """
    await row_locks.hold(session, User.username, col(User.id) == user_id)


async def count_for(session: AsyncSession, user_id: int) -> int:
    """How many keys the user has."""
    query = select(func.count()).select_from(ApiKey).where(col(ApiKey.user_id) == user_id)
    return int((await session.exec(query)).one())


async def lock(session: AsyncSession, row: ApiKey) -> bool:
    """Hold the key's row until commit and re-read it; False if it is gone.

    Re-generate, Expire now, a change of limits and Delete each start from the row as
    it is once no one else can change it: from an older read, a re-generate racing
    another keeps the secret both replaced as the old key (a leaked key re-generated
    "now" kept working for 7 days), and one racing Delete updated a deleted row (500).
    """
    return await row_locks.hold_row(session, row, ApiKey.name, col(ApiKey.id) == row.id)


def reveal(keys: KeyRing, row: ApiKey) -> str:
    """Decrypt the key for showing it after a step-up."""
    return keys.decrypt_text(row.secret, API_KEY_SECRET.bound_to(row.user_id))


async def roll(session: AsyncSession, keys: KeyRing, row: ApiKey, now: float, grace: int) -> str:
    """Give the key a new secret; the old one keeps working for ``grace`` seconds.

    With no grace the old secret stops at commit. A key already in a grace period
    drops that older secret: only the newest two ever work.
    """
    if grace > 0:
        old = reveal(keys, row)
        row.prev_secret = keys.encrypt(old, API_KEY_PREV_SECRET.bound_to(row.user_id))
        row.prev_digest = row.digest
        row.prev_hint = row.hint
        row.prev_until = now + grace
    else:
        _clear_previous(row)
    plain = apikey.generate()
    _seal(keys, row, plain)
    row.created_at = now
    row.last_used_at = None  # of the new secret; calls with the old one move it again
    row.last_used_ip = ""
    session.add(row)
    await session.flush()
    return plain


def _clear_previous(row: ApiKey) -> None:
    row.prev_secret = row.prev_digest = row.prev_hint = None
    row.prev_until = None


async def end_previous(session: AsyncSession, row: ApiKey, until: float) -> bool:
    """Stop the previous secret, if it is still the one that ran until ``until``.

    Compare-and-set: of two workers noticing the same expiry, only one changes the row
    (and so only one records the event).
    """
    result = await session.exec(
        update(ApiKey)
        .where(col(ApiKey.id) == row.id, col(ApiKey.prev_until) == until)
        .values(prev_secret=None, prev_digest=None, prev_hint=None, prev_until=None)
    )
    return bool(result.rowcount)


async def previous_ended(session: AsyncSession, now: float) -> Sequence[ApiKey]:
    """Keys whose previous secret's grace period is over but not yet cleared."""
    query = select(ApiKey).where(col(ApiKey.prev_until) <= now).limit(500)
    return (await session.exec(query)).all()


def update_limits(row: ApiKey, limits: key_rules.Limits) -> None:
    """Change what a named key may do (the caller's unit of work commits)."""
    for column, value in asdict(limits).items():  # Limits' fields are the row's columns
        setattr(row, column, value)


async def remove(session: AsyncSession, row: ApiKey) -> None:
    """Delete a key and its usage log; it stops working at commit."""
    await session.exec(delete(ApiKeyUse).where(col(ApiKeyUse.key_id) == row.id))
    await session.delete(row)
    await session.flush()


async def uses(session: AsyncSession, key_id: int) -> Sequence[ApiKeyUse]:
    """The key's newest calls, newest first."""
    query = (
        select(ApiKeyUse)
        .where(col(ApiKeyUse.key_id) == key_id)
        .order_by(col(ApiKeyUse.id).desc())
        .limit(USES_KEPT)
    )
    return (await session.exec(query)).all()


async def log_uses(session: AsyncSession, batch: Sequence[Use]) -> None:
    """Write a batch of calls, move each key's last-used time and address forward, and
    keep only the newest :data:`USES_KEPT` calls of each key."""
    kept: dict[int, list[Use]] = {}
    for use in batch:  # the batch is in call order
        kept.setdefault(use.key_id, []).append(use)
    if not kept:
        return
    query = select(ApiKey.id, ApiKey.user_id, ApiKey.created_at).where(col(ApiKey.id).in_(kept))
    rows_now = {
        key_id: (user_id, created) for key_id, user_id, created in await session.exec(query)
    }
    # A key deleted since the call: nothing to log. SQLite gives a deleted row's id to
    # the next key, so a call is logged only under the key that made it: the same owner,
    # and a key created no later than the call (a new key never shows a deleted key's
    # last calls, whoever creates it).
    for key_id, uses in kept.items():
        owner, created = rows_now.get(key_id, (None, 0.0))
        uses[:] = [u for u in uses if u.user_id == owner and created <= u.at]
    live = {key_id for key_id, uses in kept.items() if uses}
    newest = {key_id: kept[key_id][-1] for key_id in live}
    # A busy key's batch is cut to the calls that would survive the trim anyway, so the
    # write costs at most USES_KEPT rows per key however many calls came in.
    rows = [
        {"key_id": u.key_id, "at": u.at, "method": u.method, "path": u.path}
        | {"status": u.status, "ip": u.ip}
        for key_id in live
        for u in kept[key_id][-USES_KEPT:]
    ]
    if not rows:
        return
    await session.exec(insert(ApiKeyUse), params=rows)  # one executemany, no ORM objects
    for key_id in live:
        use = newest[key_id]
        # Only forward: a slower worker's older batch must not move it back.
        await session.exec(
            update(ApiKey)
            .where(col(ApiKey.id) == key_id)
            .where((col(ApiKey.last_used_at).is_(None)) | (col(ApiKey.last_used_at) <= use.at))
            .values(last_used_at=use.at, last_used_ip=use.ip)
        )
        cutoff = (
            select(ApiKeyUse.id)
            .where(col(ApiKeyUse.key_id) == key_id)
            .order_by(col(ApiKeyUse.id).desc())
            .offset(USES_KEPT - 1)
            .limit(1)
            .scalar_subquery()
        )
        await session.exec(
            delete(ApiKeyUse).where(col(ApiKeyUse.key_id) == key_id, col(ApiKeyUse.id) < cutoff)
        )
