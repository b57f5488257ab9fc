"""Trading-account fields: one set of rules and messages for the form and the API."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from webapp.brokers import BROKERS, CREDENTIAL_FIELDS, Broker, find

PUBLIC_FIELDS = ("broker", "platform", "pseudoAccName", "loginId")
SECRET_FIELDS = tuple(CREDENTIAL_FIELDS)
ALL_FIELDS = PUBLIC_FIELDS + SECRET_FIELDS
LABELS = {
    "broker": "Broker",
    "platform": "Platform",
    "pseudoAccName": "Nickname",
    "loginId": "Login id",
    **CREDENTIAL_FIELDS,
}

# A refused value is shown back whole (up to this many characters) so its message
# makes sense; form inputs let that much through rather than cut it silently (a cut
# secret would be saved wrong, a cut nickname would look accepted).
ECHO = 200

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Lone surrogates cannot be encoded, stored or shown: refuse them as text.
_NOT_TEXT = re.compile(r"[\ud800-\udfff]")
_BASE32 = re.compile(r"^[A-Z2-7]{16,128}$")

Check = Callable[[str], tuple[str, str]]


@dataclass(frozen=True)
class Rule:
    """What one field accepts: the server's check, and the limits the form and the
    OpenAPI schema state (both are built from these, never typed twice)."""

    check: Check
    max_length: int | None = None
    # A whole-value regex in the common subset of Python, ECMAScript and JSON Schema.
    pattern: str | None = None
    hint: str = ""  # what the form says under the input and the schema's description

    @property
    def input_max(self) -> int:
        """The form input's maxlength: the rule's, but never below :data:`ECHO`."""
        return max(self.max_length or 0, ECHO)


def _text(max_len: int, what: str, hint: str = "") -> Rule:
    def check(value: str) -> tuple[str, str]:
        if len(value) > max_len:
            return value, f"{what} must be at most {max_len} characters."
        if _CONTROL.search(value):
            return value, f"{what} must not contain control characters."
        return value, ""

    return Rule(check, max_length=max_len, hint=hint)


def _pattern(pattern: str, max_len: int, message: str, hint: str = "", strip: bool = True) -> Rule:
    regex = re.compile(pattern)

    def check(value: str) -> tuple[str, str]:
        value = value.strip() if strip else value
        # fullmatch: with match and "$", a trailing newline would slip through.
        return value, "" if regex.fullmatch(value) else message

    return Rule(check, max_length=max_len, pattern=pattern, hint=hint)


def _totp_key(value: str) -> tuple[str, str]:
    cleaned = re.sub(r"[\s-]", "", value).upper().rstrip("=")
    if _BASE32.fullmatch(cleaned):
        return cleaned, ""
    return cleaned, (
        "TOTP key must be valid base32: letters A–Z and digits 2–7, 16 to 128 characters."
    )


def _broker(value: str) -> tuple[str, str]:
    broker = find(value)
    if broker is None:
        return value, "Choose a broker from the list."
    return broker.id, ""


_PRINTABLE = "^[!-~]{1,256}$"  # printable ASCII, no spaces
RULES: dict[str, Rule] = {
    "broker": Rule(_broker, hint="Broker id or name"),
    "platform": _text(40, "Platform", hint="Defaults to the broker's usual one"),
    "pseudoAccName": _pattern(
        "^[A-Za-z0-9 ._-]{1,40}$",
        40,
        "Nickname: 1 to 40 letters, digits, spaces, dots, underscores or hyphens.",
        hint="Up to 40 letters, digits, spaces, dots, underscores or hyphens.",
    ),
    "loginId": _pattern(
        "^[A-Za-z0-9._@-]{1,64}$", 64, "Login id: 1 to 64 letters, digits and . _ @ -"
    ),
    "password": _text(256, "Password"),
    "pin": _text(64, "PIN / security answer"),
    "totpKey": Rule(_totp_key, hint="Base32, 16 to 128 characters"),
    "apiKey": _pattern(_PRINTABLE, 256, "API key: 1 to 256 characters, no spaces.", strip=False),
    "apiSecret": _pattern(
        _PRINTABLE, 256, "API secret: 1 to 256 characters, no spaces.", strip=False
    ),
}
assert set(RULES) == set(ALL_FIELDS)


@dataclass
class Checked:
    """Cleaned values of the fields given, and a message per field that failed."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def public(self) -> dict[str, str]:
        """The non-secret values."""
        return {k: v for k, v in self.values.items() if k in PUBLIC_FIELDS}

    @property
    def secrets(self) -> dict[str, str]:
        """The credential values."""
        return {k: v for k, v in self.values.items() if k in SECRET_FIELDS}


def check_fields(data: Mapping[str, object], *, blank_means_absent: bool) -> Checked:
    """Check each given field on its own. Forms send "" for "keep"; the API omits."""
    checked = Checked()
    for name, raw in data.items():
        if name not in RULES:
            checked.errors[name] = "Unknown field."
            continue
        if not isinstance(raw, str):
            checked.errors[name] = f"{LABELS[name]} must be text."
            continue
        if _NOT_TEXT.search(raw):
            checked.errors[name] = f"{LABELS[name]} contains characters that are not valid text."
            continue
        if raw.strip() == "":
            if not blank_means_absent:
                checked.errors[name] = f"{LABELS[name]} must not be empty; leave it out to keep it."
            continue
        value, problem = RULES[name].check(raw)
        if problem:
            checked.errors[name] = problem
        else:
            checked.values[name] = value
    return checked


def check_whole(public: Mapping[str, str], secrets: Mapping[str, str]) -> dict[str, str]:
    """Rules across fields, on the account as it would be saved: required ones, platform."""
    errors: dict[str, str] = {}
    for name in ("broker", "pseudoAccName", "loginId"):
        if not public.get(name):
            errors[name] = f"{LABELS[name]} is required."
    broker = BROKERS.get(public.get("broker", ""))
    if broker is None:
        return errors
    platform = public.get("platform", "")
    if platform not in broker.platforms:
        errors["platform"] = f"{broker.name} accounts use: {', '.join(broker.platforms)}."
    for name in sorted(broker.required - set(secrets)):
        errors[name] = f"{LABELS[name]} is required for {broker.name}."
    return errors


def default_platform(broker: Broker) -> str:
    """The platform used when none is given."""
    return broker.platforms[0]
