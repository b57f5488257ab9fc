"""Check a passkey assertion as a second factor: counted like a code, then verified.

The attempt reserves its place in the user's *code* failure count before anything is
checked (one lock for every second factor, so switching between codes and passkeys
buys no extra guesses). The session's challenge is claimed in the same step, so it
works once whatever the outcome. Only after the library verified origin, RP id,
challenge and signature is the signature counter compared: a counter that did not
grow is refused and recorded: it is the mark of a copied (cloned) authenticator.
"""

from __future__ import annotations

from starlette.requests import Request

from webapp.context import AppContext
from webapp.models import User, id_of
from webapp.repositories import events
from webapp.repositories import passkeys as repo
from webapp.security import codes, throttle, webauthn
from webapp.security.outcome import OK, Outcome
from webapp.security.sessions import record_id_for

EXPIRED = "The passkey request expired or was already used. Choose “Use a passkey” again."
CLONED = (
    "This passkey was refused: its signature counter went backwards, as a copied "
    "authenticator's would. Use another passkey or a code, and check Recent activity."
)
NO_PASSKEYS = "This account has no passkeys. Enter a code instead."
PENDING_KEY = "pending_passkey"  # a random id of the pending Login 2FA (not a secret)


def session_binding(request: Request) -> str | None:
    """What binds a signed-in session's challenges: its server-side record id."""
    sid = request.session.get("sid")
    return f"s:{record_id_for(sid)}" if isinstance(sid, str) else None


def login_binding(request: Request) -> str | None:
    """What binds a pending Login 2FA's challenges (set when the password passed)."""
    token = request.session.get(PENDING_KEY)
    return f"l:{record_id_for(token)}" if isinstance(token, str) else None


async def check(
    ctx: AppContext, user: User, raw: str, binding: str | None, ip: str, agent: str
) -> Outcome:
    """Accept a fresh assertion by one of ``user``'s passkeys for this session's challenge."""
    now = ctx.now()
    key = throttle.code_key(id_of(user))
    async with ctx.db() as db:
        slot = await throttle.reserve(db, key, throttle.CODE, now)
        if isinstance(slot, int):
            await db.rollback()
            return Outcome.fail(429, throttle.wait_message(slot), "code")
        challenge = None
        if binding is not None:
            challenge = await repo.claim_challenge(db, binding, id_of(user), "assert", now)
        stored = await repo.for_user(db, id_of(user))
        await db.commit()
    who: events.Who = {"user_id": user.id, "ip": ip, "user_agent": agent}
    outcome, event, detail = OK, "", ""
    if challenge is None:
        outcome, event = Outcome.fail(422, EXPIRED, "code"), "passkey_failed"
        detail = "no live challenge"
    elif not stored:
        outcome, event = Outcome.fail(422, NO_PASSKEYS, "code"), "passkey_failed"
    else:
        try:
            blobs = [webauthn.unb64(p.credential_data) for p in stored]
            asserted = webauthn.verify_assertion(_rp(ctx), challenge, raw, blobs)
        except webauthn.Refused as exc:
            outcome, event = Outcome.fail(422, str(exc), "code"), "passkey_failed"
        else:
            used = next(
                p for p in stored if p.credential_id == webauthn.b64(asserted.credential_id)
            )
            detail = used.name
            async with ctx.db() as db:
                fresh = await repo.record_use(db, id_of(used), asserted.sign_count, now)
                await db.commit()
            if not fresh:
                outcome, event = Outcome.fail(422, CLONED, "code"), "passkey_counter_regressed"
                detail = f"{used.name}: counter {asserted.sign_count}, stored {used.sign_count}"
    async with ctx.db() as db:
        if outcome.ok:
            await throttle.succeeded(db, slot, reset_all=True)
            await db.commit()
            return OK
        lock = await codes.settle_refusal(db, slot, now, event, who, detail)
        await db.commit()
    if lock:
        return Outcome.fail(429, throttle.wait_message(lock), "code")
    return outcome


def _rp(ctx: AppContext) -> webauthn.RelyingParty:
    return webauthn.relying_party(ctx.settings.origin)
