"""Passkeys on the Security page: start and finish adding one, rename nothing, remove one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from webapp.context import AppContext
from webapp.models import Passkey, User, id_of
from webapp.repositories import passkeys as repo
from webapp.repositories import sessions as records
from webapp.repositories import two_factor, users
from webapp.security import webauthn
from webapp.security.outcome import OK, Outcome
from webapp.security.policy import Action
from webapp.services.actor import Actor

MAX_NAME = 64
EXPIRED = "The passkey request expired. Choose “Add passkey” again."
TAKEN = "This passkey is already added to an account."
MAX_PASSKEYS = 20  # enough for every device a trader owns; bounds the options list


def clean_name(raw: str, count: int) -> str:
    """The passkey's display name: printable, one line, at most 64 characters."""
    # It is shown on the page and in event details (and so in log lines): no control
    # characters, no line breaks.
    printable = "".join(ch if ch.isprintable() else " " for ch in raw)
    name = " ".join(printable.split())[:MAX_NAME]
    return name or f"Passkey {count + 1}"


async def creation_options(actor: Actor, binding: str) -> dict[str, Any] | None:
    """Options for ``navigator.credentials.create``; None when the user has the maximum.

    Issuing options changes nothing but a challenge: the passkey is only stored by
    :func:`add`, after the step-up.
    """
    ctx = actor.ctx
    async with ctx.db() as db:
        user = await users.by_id(db, actor.user_id)
        assert user is not None
        existing = await repo.for_user(db, id_of(user))
        if len(existing) >= MAX_PASSKEYS:
            return None
        handle = repo.handle_of(user)
        db.add(user)
        challenge = await repo.new_challenge(db, binding, id_of(user), "register", ctx.now())
        await db.commit()
    ids = [webauthn.unb64(p.credential_id) for p in existing]
    return webauthn.creation_options(_rp(actor), handle, user.username, ids, challenge)


async def assertion_options(ctx: AppContext, user: User, binding: str) -> dict[str, Any]:
    """Options for ``navigator.credentials.get`` naming ``user``'s passkeys."""
    async with ctx.db() as db:
        stored = await repo.for_user(db, id_of(user))
        challenge = await repo.new_challenge(db, binding, id_of(user), "assert", ctx.now())
        await db.commit()
    ids = [webauthn.unb64(p.credential_id) for p in stored]
    return webauthn.request_options(webauthn.relying_party(ctx.settings.origin), ids, challenge)


@dataclass(frozen=True)
class Added:
    """The result of adding a passkey: the outcome, and recovery codes if new ones."""

    outcome: Outcome
    codes: list[str] | None = None


async def add(actor: Actor, binding: str, name: str, response: str) -> Added:
    """Verify a new passkey against this session's challenge and store it.

    The first second factor of an account also gets recovery codes (shown once),
    since those cover passkeys as well as codes. Other sessions end, as with every
    2FA change.
    """
    actor.require(Action.ADD_PASSKEY)
    ctx = actor.ctx
    now = ctx.now()
    async with ctx.db() as db:
        challenge = await repo.claim_challenge(db, binding, actor.user_id, "register", now)
        await db.commit()
    if challenge is None:
        return Added(Outcome.fail(422, EXPIRED, "passkey"))
    try:
        new = webauthn.verify_creation(_rp(actor), challenge, response)
    except webauthn.Refused as exc:
        return Added(Outcome.fail(422, str(exc), "passkey"))
    credential_id = webauthn.b64(new.credential_id)
    async with ctx.db() as db:
        user = await users.by_id(db, actor.user_id)
        assert user is not None
        if await repo.id_taken(db, credential_id):
            return Added(Outcome.fail(409, TAKEN, "passkey"))
        if user.passkey_count >= MAX_PASSKEYS:
            return Added(Outcome.fail(409, f"You can add at most {MAX_PASSKEYS} passkeys."))
        passkey = Passkey(
            user_id=id_of(user),
            credential_id=credential_id,
            credential_data=webauthn.b64(new.credential_data),
            sign_count=new.sign_count,
            name=clean_name(name, user.passkey_count),
            created_at=now,
        )
        try:
            await repo.add(db, user, passkey)
        except IntegrityError:
            # The same credential added at the same moment elsewhere: the unique index won.
            await db.rollback()
            return Added(Outcome.fail(409, TAKEN, "passkey"))
        codes = None
        if user.recovery_key is None:
            codes = await two_factor.new_recovery_codes(db, ctx.keys, user)
        ended = await records.revoke_all(db, id_of(user), now, keep=actor.record_id)
        await actor.note(db, "passkey_added", f"{passkey.name}; {ended} other sessions ended")
        await db.commit()
    return Added(OK, codes)


async def remove(actor: Actor, passkey_id: int) -> str | None:
    """Remove one passkey; its name, or None when it is not the user's (or gone).

    Removing the last second factor (no authenticator app, no other passkey) turns
    2FA off entirely, like "Remove 2FA": the switches go off and recovery codes go.
    """
    ctx = actor.ctx
    async with ctx.db() as db:
        user = await users.by_id(db, actor.user_id)
        assert user is not None
        actor.require(Action.REMOVE_PASSKEY, user)
        passkey = await repo.owned(db, id_of(user), passkey_id)
        if passkey is None or not await repo.remove(db, user, passkey_id):
            return None
        if not user.enrolled:
            await two_factor.remove(db, user)
        ended = await records.revoke_all(db, id_of(user), ctx.now(), keep=actor.record_id)
        await actor.note(db, "passkey_removed", f"{passkey.name}; {ended} other sessions ended")
        await db.commit()
    return passkey.name


def _rp(actor: Actor) -> webauthn.RelyingParty:
    return webauthn.relying_party(actor.ctx.settings.origin)
