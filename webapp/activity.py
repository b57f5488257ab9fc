"""How security events and sessions read to a trader: labels and short browser names."""

from __future__ import annotations

import re

LABELS = {
    "registered": "Account created",
    "signin": "Signed in",
    "signin_failed": "Sign-in failed (wrong password)",
    "password_locked": "Sign-in locked after failed attempts",
    "signout": "Signed out",
    "stepup_failed": "Password check failed",
    "code_failed": "2FA code refused",
    "code_replay_refused": "Reused 2FA code refused",
    "code_locked": "2FA locked after wrong codes",
    "api_key_viewed": "API key viewed",
    "api_key_regenerated": "API key re-generated",
    "api_key_rolled_with_grace": "API key re-generated (old key kept for a grace period)",
    "api_key_previous_expired": "Old API key expired",
    "api_key_created": "API key created",
    "api_key_changed": "API key limits changed",
    "api_key_deleted": "API key deleted",
    "api_key_address_refused": "API key used from a disallowed address",
    "2fa_enrolled": "Two-factor authentication set up",
    "2fa_removed": "Two-factor authentication removed",
    "login_2fa_on": "Login 2FA turned on",
    "login_2fa_off": "Login 2FA turned off",
    "credentials_2fa_on": "Credentials 2FA turned on",
    "credentials_2fa_off": "Credentials 2FA turned off",
    "recovery_code_used": "Recovery code used",
    "recovery_codes_regenerated": "New recovery codes generated",
    "account_added": "Trading account added",
    "credentials_viewed": "Trading credentials viewed",
    "credentials_edited": "Trading account edited",
    "account_deleted": "Trading account deleted",
    "password_changed": "Password changed",
    "session_signed_out": "A session was signed out",
    "other_sessions_signed_out": "All other sessions signed out",
    "email_confirmation_sent": "Alert email address asked for (confirmation sent)",
    "email_added": "Alert email address added",
    "email_changed": "Alert email address changed",
    "email_confirmed": "Alert email address confirmed again",
    "alert_settings_changed": "Alert settings changed",
    "account_locked": "Account locked (keys suspended, sessions ended)",
    "account_unlocked": "Account unlocked",
    "passkey_added": "Passkey added",
    "passkey_removed": "Passkey removed",
    "passkey_failed": "Passkey refused",
    "passkey_counter_regressed": "Passkey refused: it may have been copied",
}
ALARMING = {
    "api_key_address_refused",
    "signin_failed",
    "password_locked",
    "stepup_failed",
    "code_failed",
    "code_replay_refused",
    "code_locked",
    "account_locked",
    "passkey_failed",
    "passkey_counter_regressed",
}

_BROWSERS = [
    ("Edge", r"Edg/"),
    ("Opera", r"OPR/"),
    ("Firefox", r"Firefox/"),
    ("Chrome", r"Chrome/|Chromium/|HeadlessChrome/"),
    ("Safari", r"Safari/"),
    ("curl", r"^curl/"),
    ("Python", r"python-|httpx|aiohttp"),
]
_SYSTEMS = [
    ("Android", r"Android"),
    ("iPhone", r"iPhone|iPad|iOS"),
    ("Windows", r"Windows"),
    ("macOS", r"Mac OS X|Macintosh"),
    ("Linux", r"Linux|X11"),
]


def label(kind: str) -> str:
    """The words for an event kind."""
    return LABELS.get(kind, kind.replace("_", " ").capitalize())


def browser(user_agent: str) -> str:
    """A short description like "Chrome on Linux" from a User-Agent header."""
    if not user_agent:
        return "Unknown browser"
    name = next((n for n, rx in _BROWSERS if re.search(rx, user_agent)), "Other browser")
    system = next((s for s, rx in _SYSTEMS if re.search(rx, user_agent)), "")
    return f"{name} on {system}" if system else name
