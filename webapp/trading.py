"""Creating and changing trading accounts: the rules the pages and the API share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.brokers import BROKERS
from webapp.models import TradingAccount
from webapp.repositories import trading_accounts as repo
from webapp.trading_fields import PUBLIC_FIELDS, check_fields, check_whole, default_platform
from webapp.vault import KeyRing

NICKNAME_TAKEN = "You already have an account with this nickname."
GONE = "This account was deleted meanwhile. Reload to see your accounts."


@dataclass
class Saved:
    """The saved account, or the problems per field."""

    account: TradingAccount | None = None
    errors: dict[str, str] = field(default_factory=dict)


def _fill_platform(public: dict[str, str], given: Mapping[str, str]) -> dict[str, str]:
    """Use the broker's usual platform when none was given and the current one won't do."""
    broker = BROKERS.get(public.get("broker", ""))
    if broker and "platform" not in given and public.get("platform") not in broker.platforms:
        return {**public, "platform": default_platform(broker)}
    return public


def _problems(given_errors: dict[str, str], whole: dict[str, str]) -> dict[str, str]:
    # A field's own message (say, bad base32) beats "is required" for the same field.
    return {**whole, **given_errors}


async def create(
    db: AsyncSession,
    keys: KeyRing,
    user_id: int,
    data: Mapping[str, object],
    *,
    from_form: bool,
    now: float,
) -> Saved:
    """Validate and insert a new account."""
    checked = check_fields(data, blank_means_absent=from_form)
    public = _fill_platform(checked.public, checked.public)
    errors = _problems(checked.errors, check_whole(public, checked.secrets))
    if errors:
        return Saved(errors=errors)
    try:
        account = repo.new(user_id, public, now)
        await repo.save(db, keys, account, public, checked.secrets, now)
    except repo.NicknameTaken:
        return Saved(errors={"pseudoAccName": NICKNAME_TAKEN})
    return Saved(account=account)


async def update(
    db: AsyncSession,
    keys: KeyRing,
    account: TradingAccount,
    data: Mapping[str, object],
    *,
    from_form: bool,
    now: float,
) -> Saved:
    """Validate and apply a change; fields not given (or blank in a form) are kept.

    The row is locked and re-read first, so the merge starts from the latest stored
    values and holds until commit: concurrent changes of different fields all survive.
    """
    checked = check_fields(data, blank_means_absent=from_form)
    if not checked.errors and not await repo.lock_for_change(db, account):
        return Saved(errors={"pseudoAccName": GONE})
    current = repo.public_view(account)
    merged_public = {k: str(current[k]) for k in PUBLIC_FIELDS}
    merged_public = _fill_platform({**merged_public, **checked.public}, checked.public)
    merged_secrets = {**repo.reveal(keys, account), **checked.secrets}
    errors = _problems(checked.errors, check_whole(merged_public, merged_secrets))
    if errors:
        return Saved(errors=errors)
    changed = {k: v for k, v in merged_public.items() if current[k] != v}
    try:
        await repo.save(db, keys, account, changed, checked.secrets, now)
    except repo.NicknameTaken:
        return Saved(errors={"pseudoAccName": NICKNAME_TAKEN})
    return Saved(account=account)
