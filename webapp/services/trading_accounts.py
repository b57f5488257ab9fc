"""Trading accounts from the web pages: add, reveal, change and delete, each recorded."""

from __future__ import annotations

from collections.abc import Mapping

from webapp import trading
from webapp.models import TradingAccount
from webapp.repositories import trading_accounts as repo
from webapp.security.policy import Action
from webapp.services.actor import Actor
from webapp.trading import Saved
from webapp.trading_fields import PUBLIC_FIELDS, SECRET_FIELDS


async def create(actor: Actor, data: Mapping[str, str]) -> Saved:
    """Validate and add an account (signed in is enough: nothing is revealed)."""
    ctx = actor.ctx
    async with ctx.db() as db:
        saved = await trading.create(
            db, ctx.keys, actor.user_id, data, from_form=True, now=ctx.now()
        )
        if saved.account is not None:
            await actor.note(db, "account_added", saved.account.pseudo_acc_name)
            await db.commit()
    return saved


async def reveal(actor: Actor, account: TradingAccount) -> dict[str, str]:
    """The account's credentials in full; recorded as viewed."""
    actor.require(Action.VIEW_CREDENTIALS)
    async with actor.ctx.db() as db:
        await actor.note(db, "credentials_viewed", account.pseudo_acc_name)
        await db.commit()
    return repo.reveal(actor.ctx.keys, account)


def stored_fields(actor: Actor, account: TradingAccount) -> set[str]:
    """Which credentials the account holds (never their values), for the edit form."""
    actor.require(Action.EDIT_CREDENTIALS)
    return set(repo.reveal(actor.ctx.keys, account))


async def save(actor: Actor, account_id: int, data: Mapping[str, str]) -> Saved | None:
    """Apply the edit form (blank secrets keep their values); None if the account is gone."""
    actor.require(Action.EDIT_CREDENTIALS)
    ctx = actor.ctx
    async with ctx.db() as db:
        account = await repo.get_owned(db, actor.user_id, account_id)
        if account is None:
            return None
        before = repo.public_view(account)
        saved = await trading.update(db, ctx.keys, account, data, from_form=True, now=ctx.now())
        if saved.account is None:
            await db.rollback()  # a refused nickname may have left the row half-changed
            return saved
        after = repo.public_view(account)
        # Only what changed: public fields compared, secrets typed (blank keeps one).
        changed = [k for k in PUBLIC_FIELDS if before[k] != after[k]]
        changed += [k for k in SECRET_FIELDS if data.get(k, "").strip()]
        detail = f"{account.pseudo_acc_name}: {', '.join(changed) or 'nothing'}"
        await actor.note(db, "credentials_edited", detail)
        await db.commit()
    return saved


async def delete(actor: Actor, account_id: int) -> str | None:
    """Delete the account and its credentials; its nickname, or None if already gone."""
    actor.require(Action.DELETE_CREDENTIALS)
    async with actor.ctx.db() as db:
        owned = await repo.get_owned(db, actor.user_id, account_id)
        if owned is None:
            return None
        await repo.delete(db, owned)
        await actor.note(db, "account_deleted", owned.pseudo_acc_name)
        await db.commit()
    return owned.pseudo_acc_name
