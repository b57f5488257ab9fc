"""Holds on revealing secrets: a lock-down freezes them, a risky change pauses them.

The policy says which proofs an action needs; a hold says that, proofs or not, the
API key and broker credentials are not shown right now. Only revealing is held:
Re-generate, Lock and every change that only reduces risk stay available.
"""

from __future__ import annotations

import math

from webapp.models import User
from webapp.security.policy import Action

# Actions that show a secret; the only ones a hold refuses.
# A new key is shown in full once, so creating one is a reveal too.
REVEALS = frozenset({Action.VIEW_API_KEY, Action.CREATE_API_KEY, Action.VIEW_CREDENTIALS})

# Events that start a cool-down, and how the Security page explains it.
COOLDOWN_REASONS = {
    "password_changed": "your password was changed",
    "2fa_removed": "two-factor authentication was removed",
    "recovery_signin": "you signed in with a recovery code",
    "email_changed": "your alert email address was changed",
}
# The detail of a "signin" event finished with a recovery code (auth records it).
RECOVERY_SIGNIN = "with password and recovery code"
LOCKED = (
    "Your account is locked: viewing the API key and trading credentials is frozen. "
    "Unlock it under Settings → Security."
)


class Held(Exception):
    """A reveal was refused by a lock-down or a cool-down; ``message`` says why."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(message)
        self.action = action
        self.message = message


def cooldown_left(user: User, now: float, hours: int) -> float:
    """Seconds of cool-down still to run (0 when none)."""
    if user.cooldown_from is None or hours <= 0:
        return 0.0
    return max(0.0, user.cooldown_from + hours * 3600 - now)


def duration(seconds: float) -> str:
    """A short "3 h 20 min" for a wait (rounded up to the minute)."""
    minutes = max(1, math.ceil(seconds / 60))
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"


def reason(user: User, action: str, now: float, hours: int) -> str:
    """Why ``action`` is held for ``user`` now ("" when it is not)."""
    if action not in REVEALS:
        return ""
    if user.locked_at is not None:
        return LOCKED
    left = cooldown_left(user, now, hours)
    if not left:
        return ""
    why = COOLDOWN_REASONS.get(user.cooldown_reason, "of a recent security change")
    return (
        f"Viewing is paused for {duration(left)} more because {why} (a {hours}-hour "
        "cool-down). Re-generate and Lock everything now stay available."
    )


def check(user: User, action: str, now: float, hours: int) -> None:
    """Raise :class:`Held` when ``action`` is held for ``user``."""
    message = reason(user, action, now, hours)
    if message:
        raise Held(action, message)
