"""Trading accounts, always looked up together with their owner (another user's is None)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.brokers import BROKERS
from webapp.models import TradingAccount
from webapp.repositories import row_locks
from webapp.sealed_columns import TRADING_CREDENTIALS
from webapp.vault import KeyRing

MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL
_PENDING = "pending"  # placeholder until the row has an id to bind the ciphertext to


class NicknameTaken(Exception):
    """The user already has an account with this nickname."""


def _aad(account: TradingAccount) -> str:
    return TRADING_CREDENTIALS.bound_to(account.user_id, account.id)


async def list_for(db: AsyncSession, user_id: int) -> list[TradingAccount]:
    """The user's accounts, oldest first."""
    result = await db.exec(
        select(TradingAccount)
        .where(TradingAccount.user_id == user_id)
        .order_by(col(TradingAccount.id))
    )
    return list(result.all())


async def get_owned(db: AsyncSession, user_id: int, account_id: int) -> TradingAccount | None:
    """The account if it exists and belongs to the user; otherwise None (same for both)."""
    if not 0 < account_id <= MAX_ID:
        return None  # beyond any row id: it cannot exist (and would overflow the driver)
    result = await db.exec(
        select(TradingAccount).where(
            TradingAccount.id == account_id, TradingAccount.user_id == user_id
        )
    )
    return result.first()


async def lock_for_change(db: AsyncSession, account: TradingAccount) -> bool:
    """Lock the account's row until commit and re-read it; False if it is gone.

    A change merges new credentials into the stored ones, so it must start from the
    row as it is once no one else can change it: otherwise two concurrent edits of
    different fields each write back the other's old value (webapp/repositories/row_locks.py).
    """
    same = (col(TradingAccount.id) == account.id, col(TradingAccount.user_id) == account.user_id)
    return await row_locks.hold_row(db, account, TradingAccount.updated_at, *same)


def reveal(keys: KeyRing, account: TradingAccount) -> dict[str, str]:
    """The decrypted credentials."""
    creds: dict[str, str] = json.loads(keys.decrypt_text(account.credentials, _aad(account)))
    return creds


def _seal(keys: KeyRing, account: TradingAccount, credentials: dict[str, str]) -> str:
    return keys.encrypt(json.dumps(credentials), _aad(account))


def _apply_public(account: TradingAccount, public: dict[str, str]) -> None:
    if "broker" in public:
        account.broker = public["broker"]
    if "platform" in public:
        account.platform = public["platform"]
    if "pseudoAccName" in public:
        account.pseudo_acc_name = public["pseudoAccName"]
        account.nickname_key = public["pseudoAccName"].lower()
    if "loginId" in public:
        account.login_id = public["loginId"]


def new(user_id: int, public: dict[str, str], now: float) -> TradingAccount:
    """An unsaved account of ``user_id`` with every public field (a new account's
    validation requires them all); :func:`save` stores it with its credentials."""
    return TradingAccount(
        user_id=user_id,
        broker=public["broker"],
        platform=public["platform"],
        pseudo_acc_name=public["pseudoAccName"],
        nickname_key=public["pseudoAccName"].lower(),
        login_id=public["loginId"],
        credentials=_PENDING,
        created_at=now,
        updated_at=now,
    )


async def save(
    db: AsyncSession,
    keys: KeyRing,
    account: TradingAccount,
    public: dict[str, str],
    secrets: dict[str, str],
    now: float,
) -> None:
    """Store the given fields of a :func:`new` or a stored account; credentials not
    given keep their values. Raise NicknameTaken if the nickname is in use."""
    _apply_public(account, public)
    account.updated_at = now
    if account.id is None:
        db.add(account)
        await _flush(db)  # the ciphertext is bound to the row's id, which the insert gives
        account.credentials = _seal(keys, account, secrets)
    elif secrets:
        account.credentials = _seal(keys, account, {**reveal(keys, account), **secrets})
    db.add(account)
    await _flush(db)


async def delete(db: AsyncSession, account: TradingAccount) -> None:
    """Remove the account and its credentials."""
    await db.delete(account)


async def _flush(db: AsyncSession) -> None:
    try:
        await db.flush()
    except IntegrityError as exc:
        raise NicknameTaken from exc


def public_view(account: TradingAccount) -> dict[str, object]:
    """What lists and the API show: never a credential."""
    broker = BROKERS.get(account.broker)
    return {
        "id": account.id,
        "broker": account.broker,
        "brokerName": broker.name if broker else account.broker,
        "platform": account.platform,
        "pseudoAccName": account.pseudo_acc_name,
        "loginId": account.login_id,
        "createdAt": _iso(account.created_at),
        "updatedAt": _iso(account.updated_at),
    }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
