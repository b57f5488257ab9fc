"""Which security events send an alert, what it says, and which a user may turn off."""

from __future__ import annotations

from dataclasses import dataclass

from webapp.models import User

CONFIRM_KIND = "email_confirm"  # not an event: the message that confirms an address
OLD_ADDRESS_KIND = "email_changed_old"  # the copy of "email changed" to the old address


@dataclass(frozen=True)
class Alert:
    """One kind of alert: its subject and advice; ``switch`` names the User column that
    turns it off (informational alerts only; "" means it cannot be turned off)."""

    subject: str
    advice: str
    switch: str = ""


_WAS_IT_YOU = "If this was you, there is nothing to do."
_CHANGE = (
    "If it wasn't you, lock your account with the link below, then sign in, change your "
    "password and re-generate your API key."
)

ALERTS: dict[str, Alert] = {
    "signin": Alert("New sign-in", f"{_WAS_IT_YOU} {_CHANGE}", "alert_signin"),
    "password_locked": Alert(
        "Sign-in locked after wrong passwords",
        "Someone typed wrong passwords for your account. If it wasn't you, your password "
        "may be guessed: choose a longer one and turn on two-factor authentication.",
    ),
    "code_locked": Alert(
        "2FA locked after wrong codes",
        "Someone who knows your password typed wrong 6-digit codes. " + _CHANGE,
    ),
    "2fa_enrolled": Alert("Two-factor authentication set up", f"{_WAS_IT_YOU} {_CHANGE}"),
    "2fa_removed": Alert("Two-factor authentication removed", f"{_WAS_IT_YOU} {_CHANGE}"),
    "login_2fa_on": Alert("Login 2FA turned on", f"{_WAS_IT_YOU} {_CHANGE}"),
    "login_2fa_off": Alert("Login 2FA turned off", f"{_WAS_IT_YOU} {_CHANGE}"),
    "credentials_2fa_on": Alert("Credentials 2FA turned on", f"{_WAS_IT_YOU} {_CHANGE}"),
    "credentials_2fa_off": Alert("Credentials 2FA turned off", f"{_WAS_IT_YOU} {_CHANGE}"),
    "recovery_codes_regenerated": Alert("New recovery codes made", f"{_WAS_IT_YOU} {_CHANGE}"),
    "recovery_code_used": Alert("A recovery code was used", f"{_WAS_IT_YOU} {_CHANGE}"),
    "password_changed": Alert("Password changed", f"{_WAS_IT_YOU} {_CHANGE}"),
    "api_key_viewed": Alert("API key viewed", f"{_WAS_IT_YOU} {_CHANGE}", "alert_key_viewed"),
    "api_key_regenerated": Alert("API key re-generated", f"{_WAS_IT_YOU} {_CHANGE}"),
    "api_key_rolled_with_grace": Alert("API key re-generated", f"{_WAS_IT_YOU} {_CHANGE}"),
    "api_key_created": Alert("API key created", f"{_WAS_IT_YOU} {_CHANGE}"),
    "account_added": Alert("Trading account added", f"{_WAS_IT_YOU} {_CHANGE}"),
    "credentials_viewed": Alert("Trading credentials viewed", f"{_WAS_IT_YOU} {_CHANGE}"),
    "credentials_edited": Alert("Trading account changed", f"{_WAS_IT_YOU} {_CHANGE}"),
    "account_deleted": Alert("Trading account deleted", f"{_WAS_IT_YOU} {_CHANGE}"),
    "email_added": Alert("Alert email address added", f"{_WAS_IT_YOU} {_CHANGE}"),
    "email_changed": Alert("Alert email address changed", f"{_WAS_IT_YOU} {_CHANGE}"),
    OLD_ADDRESS_KIND: Alert(
        "Alert email address changed",
        "Security alerts for your account now go to another address; this is the last one "
        "sent here. " + _CHANGE,
    ),
    "account_locked": Alert(
        "Account locked",
        "Your API keys are suspended, every session was ended and viewing secrets is "
        "frozen. To unlock, sign in and open Settings → Security.",
    ),
    "account_unlocked": Alert("Account unlocked", f"{_WAS_IT_YOU} {_CHANGE}"),
}

# The informational alerts, for the switches on the Security page.
SWITCHES = {
    "alert_signin": "Sign-in from a new browser or address",
    "alert_key_viewed": "Your API key is shown",
}


def wanted(kind: str, user: User) -> bool:
    """Whether ``user`` gets an alert for ``kind`` (security-critical ones always)."""
    alert = ALERTS.get(kind)
    if alert is None:
        return False
    return not alert.switch or bool(getattr(user, alert.switch))
