"""One table of what each sensitive action needs, and the proofs a session holds.

A *proof* is a factor verified at a time: the login password, or the second factor
(a 6-digit code, a recovery code, or a passkey's signed answer to this session's
challenge). Proofs live in the signed session (times only,
never a secret) and only :func:`prove` writes them. The second factor is recorded
only when it was checked *together with* the password, so a check that verified the
password alone can never satisfy an action that needs the code: turning Credentials
2FA on leaves every earlier password-only proof short of what View now needs.

Services call :func:`require` before they act, so a route that forgets the step-up
gets a refusal (:class:`Denied`, a 403), never the secret.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from starlette.requests import Request

from webapp.context import get_ctx
from webapp.models import User
from webapp.security.outcome import OK, Outcome
from webapp.security.sessions import client_ip, user_agent

WRONG_PASSWORD = "That password is not correct. Enter your AutoTrader login password."  # noqa: S105
_SESSION_KEY = "proof"


class Factor(enum.StrEnum):
    """What a user can prove."""

    PASSWORD = "password"  # noqa: S105 (a factor's name, not a password)
    SECOND = "second"  # a current TOTP code, an unused recovery code, or a passkey


class Second(enum.Enum):
    """When an action also needs the second factor."""

    NEVER = "never"
    CREDENTIALS_2FA = "with Credentials 2FA on"
    ENROLLED = "whenever 2FA is set up"


class Fresh(enum.Enum):
    """How recent the proof must be."""

    WINDOW = "within the step-up window"
    NOW = "in this very request"


class Action(enum.StrEnum):
    """Every account-security action that is more than "signed in"."""

    VIEW_API_KEY = "view API key"
    REGENERATE_API_KEY = "re-generate API key"
    CREATE_API_KEY = "create a named API key"
    CHANGE_API_KEY = "change, expire the old secret of, or delete an API key"
    VIEW_CREDENTIALS = "view trading-account credentials"
    EDIT_CREDENTIALS = "edit a trading account"
    DELETE_CREDENTIALS = "delete a trading account"
    ENROL_2FA = "confirm 2FA set-up"
    CHANGE_2FA = "Login/Credentials 2FA switches, new recovery codes, remove 2FA"
    CHANGE_PASSWORD = "change password"  # noqa: S105
    CHANGE_EMAIL = "add or change the alert email address"
    UNLOCK = "unlock the account after a lock-down"
    ADD_PASSKEY = "add a passkey"
    REMOVE_PASSKEY = "remove a passkey"


@dataclass(frozen=True)
class Rule:
    """What one action needs: which factors, how fresh."""

    second: Second
    fresh: Fresh = Fresh.WINDOW
    password: bool = True


# The one table. The README's security model prints it; tests walk it.
POLICY: dict[str, Rule] = {
    Action.VIEW_API_KEY: Rule(Second.CREDENTIALS_2FA),
    Action.REGENERATE_API_KEY: Rule(Second.CREDENTIALS_2FA),
    Action.CREATE_API_KEY: Rule(Second.CREDENTIALS_2FA),
    Action.CHANGE_API_KEY: Rule(Second.CREDENTIALS_2FA),
    Action.VIEW_CREDENTIALS: Rule(Second.CREDENTIALS_2FA),
    Action.EDIT_CREDENTIALS: Rule(Second.CREDENTIALS_2FA),
    Action.DELETE_CREDENTIALS: Rule(Second.CREDENTIALS_2FA),
    # Once any second factor exists, adding another one needs it (an attacker with the
    # password alone must not add their own authenticator app to a passkey account).
    Action.ENROL_2FA: Rule(Second.ENROLLED),
    Action.CHANGE_2FA: Rule(Second.ENROLLED, Fresh.NOW),
    Action.CHANGE_PASSWORD: Rule(Second.ENROLLED, Fresh.NOW),
    # Whoever sets the address decides where alerts go: as strict as a password change.
    Action.CHANGE_EMAIL: Rule(Second.ENROLLED, Fresh.NOW),
    Action.UNLOCK: Rule(Second.ENROLLED, Fresh.NOW),
    Action.ADD_PASSKEY: Rule(Second.ENROLLED, Fresh.NOW),
    Action.REMOVE_PASSKEY: Rule(Second.ENROLLED, Fresh.NOW),
}


def register(action: str, rule: Rule) -> str:
    """Add an extension's action to the table (docs/extending.md); returns its name."""
    if POLICY.get(action, rule) != rule:
        raise ValueError(f"the action {action!r} already has another rule")
    POLICY[action] = rule
    return action


class Denied(Exception):
    """An action was attempted without the proofs its rule needs."""

    def __init__(self, action: str) -> None:
        super().__init__(action)
        self.action = action


@dataclass(frozen=True)
class Proofs:
    """When each factor was last proven in this session, and which in this request."""

    at: dict[Factor, float] = field(default_factory=dict)
    this_request: frozenset[Factor] = frozenset()


def needed(user: User, action: str) -> frozenset[Factor]:
    """The factors ``action`` needs from ``user`` right now."""
    rule = POLICY[action]
    factors = {Factor.PASSWORD} if rule.password else set()
    enrolled = user.enrolled
    if (rule.second is Second.ENROLLED and enrolled) or (
        rule.second is Second.CREDENTIALS_2FA and enrolled and user.credentials_2fa
    ):
        factors.add(Factor.SECOND)
    return frozenset(factors)


def current(request: Request) -> Proofs:
    """The proofs of the request's session (plus any made during this request)."""
    raw = request.session.get(_SESSION_KEY)
    at: dict[Factor, float] = {}
    if isinstance(raw, dict):
        for factor in Factor:
            value = raw.get(factor.value)
            if isinstance(value, int | float) and not isinstance(value, bool):
                at[factor] = float(value)
    made: frozenset[Factor] = getattr(request.state, "proven", frozenset())
    return Proofs(at=at, this_request=made)


def missing(request: Request, user: User, action: str) -> frozenset[Factor]:
    """The factors still to prove before ``action`` may go ahead (empty: go ahead)."""
    ctx = get_ctx(request)
    return _short(current(request), user, action, ctx.now(), ctx.settings.stepup_seconds)


def lapsed(request: Request) -> bool:
    """Whether this session proved itself before and every proof has since expired."""
    proofs = current(request)
    if not proofs.at:
        return False
    ctx = get_ctx(request)
    return all(ctx.now() - at > ctx.settings.stepup_seconds for at in proofs.at.values())


def require(proofs: Proofs, user: User, action: str, now: float, window: float) -> None:
    """Raise :class:`Denied` unless ``proofs`` satisfy ``action`` for ``user``."""
    if _short(proofs, user, action, now, window):
        raise Denied(action)


def _short(proofs: Proofs, user: User, action: str, now: float, window: float) -> frozenset[Factor]:
    rule = POLICY[action]
    short = set()
    for factor in needed(user, action):
        if rule.fresh is Fresh.NOW:
            ok = factor in proofs.this_request
        else:
            at = proofs.at.get(factor)
            ok = factor in proofs.this_request or (at is not None and 0 <= now - at <= window)
        if not ok:
            short.add(factor)
    return frozenset(short)


async def prove(
    request: Request, user: User, action: str, password: str, code: str, passkey: str = ""
) -> Outcome:
    """Check every factor ``action`` needs (password first); record them on success.

    All needed factors are checked in this one call, whatever the session already
    holds: a proof is only ever written for a set of factors that passed together.
    The second factor is ``passkey`` (an assertion for this session's challenge) when
    one was sent, else ``code``.
    """
    # Imported here: the checks record events, events may raise alerts, and alerts
    # read this table (webapp/security/holds.py) — a cycle at import time otherwise.
    from webapp.security import codes, passkey_gate, password_gate

    ctx = get_ctx(request)
    factors = needed(user, action)
    ip, agent = client_ip(request), user_agent(request)
    if Factor.PASSWORD in factors:
        outcome = await password_gate.check(
            ctx,
            user.username,
            user,
            password,
            wrong_message=WRONG_PASSWORD,
            event="stepup_failed",
            ip=ip,
            agent=agent,
        )
        if not outcome.ok:
            return outcome
    if Factor.SECOND in factors:
        if passkey:
            binding = passkey_gate.session_binding(request)
            outcome = await passkey_gate.check(ctx, user, passkey, binding, ip, agent)
        else:
            outcome = await codes.check(ctx, user, code, ip, agent)
        if not outcome.ok:
            return outcome
    _record(request, factors, ctx.now())
    return OK


def _record(request: Request, factors: frozenset[Factor], now: float) -> None:
    raw = request.session.get(_SESSION_KEY)
    stored = dict(raw) if isinstance(raw, dict) else {}
    for factor in factors:
        stored[factor.value] = now
    if Factor.SECOND not in factors:
        # A newer password-only proof must not pair with an older code into "both".
        stored.pop(Factor.SECOND.value, None)
    request.session[_SESSION_KEY] = stored
    request.state.proven = getattr(request.state, "proven", frozenset()) | factors


def table() -> list[tuple[str, str, str]]:
    """The policy as rows (action, factors, freshness) for the README and tests."""
    rows = []
    for action, rule in POLICY.items():
        second = (
            ""
            if rule.second is Second.NEVER
            else f" + second factor (code or passkey) {rule.second.value}"
        )
        factors = "password" + second
        rows.append((str(action), factors, rule.fresh.value))
    return rows
