"""What an API key may do and from where: permissions, allow-lists, names, grace periods.

Parsing here is for input (the New-key form) and for the hot path, which reads the
stored text of the one look-up query: :func:`permissions_of` and :func:`networks_of`
are cached per distinct stored text, so a call pays a dictionary look-up, not a parse.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache

from webapp import apikey

READ = "read"
MANAGE_ACCOUNTS = "manage-accounts"
PERMISSIONS: dict[str, str] = {
    READ: "read: every GET endpoint (accounts without credentials)",
    MANAGE_ACCOUNTS: "manage-accounts: create, change and delete trading accounts",
}
ALL = f"{READ} {MANAGE_ACCOUNTS}"
# The New-key form's checkbox for each permission (one field each: forms.read refuses
# a field sent twice).
PERMISSION_FIELDS: dict[str, str] = {READ: "perm_read", MANAGE_ACCOUNTS: "perm_manage"}
FORM_FIELDS = ("name", "allow_ips", "expires", *PERMISSION_FIELDS.values())
DEFAULT_NAME = "Default key"
MAX_NAME = 64
MAX_KEYS = 20  # per user, the default key included
MAX_NETWORKS = 50
MAX_ALLOW_TEXT = 2000
EXPIRY_WARNING_DAYS = 7
# Re-generate: how long the old key keeps working (form value -> seconds, label).
GRACE: dict[str, tuple[int, str]] = {
    "now": (0, "now"),
    "1h": (3600, "in 1 hour"),
    "24h": (86400, "in 24 hours"),
    "7d": (7 * 86400, "in 7 days"),
}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# The prefix and 20 or more key characters: a key, or most of one (keys have 49).
_KEY_IN_NAME = re.compile(rf"{apikey.PREFIX}[0-9A-Za-z]{{20,}}")


class RuleError(ValueError):
    """An input a key cannot take; the message says what to type instead."""


def clean_name(raw: str) -> str:
    """A key's display name: printable, one line, 1 to 64 characters."""
    # Shown on the page and in event details (so in log lines): no control characters.
    printable = "".join(ch if ch.isprintable() else " " for ch in raw)
    name = " ".join(printable.split())
    if not name:
        raise RuleError("Give the key a name, such as “VPS bot”.")
    if len(name) > MAX_NAME:
        raise RuleError(f"Use at most {MAX_NAME} characters for the name.")
    if _KEY_IN_NAME.search(name):
        # Names are stored, shown and logged in plain text: a pasted key would be too.
        raise RuleError("That name looks like an API key: never put a key in a name.")
    return name


def clean_permissions(chosen: list[str]) -> str:
    """The stored permissions text from the ticked boxes (at least one)."""
    unknown = [p for p in chosen if p not in PERMISSIONS]
    if unknown:
        raise RuleError("Choose permissions from the list.")
    if not chosen:
        raise RuleError("Tick at least one permission.")
    return " ".join(p for p in PERMISSIONS if p in chosen)


def clean_allow_list(raw: str) -> str:
    """The stored allow-list from the form: addresses and CIDR ranges, IPv4 and IPv6,
    one per line or comma-separated; "" allows every address."""
    if len(raw) > MAX_ALLOW_TEXT:
        raise RuleError(f"The allow-list is too long: at most {MAX_NETWORKS} entries.")
    entries = [e.strip() for e in raw.replace(",", "\n").splitlines() if e.strip()]
    if len(entries) > MAX_NETWORKS:
        raise RuleError(f"Use at most {MAX_NETWORKS} addresses or ranges.")
    networks: list[str] = []
    for entry in entries:
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            shown = entry[:60]
            raise RuleError(
                f"“{shown}” is not an IP address or range (like 203.0.113.7 or 2001:db8::/32)."
            ) from None
        network = _unmapped(network)
        # A single address is kept without its /32 or /128: it reads as typed.
        text = str(network.network_address) if network.num_addresses == 1 else str(network)
        if text not in networks:
            networks.append(text)
    return ",".join(networks)


def _unmapped(network: Network) -> Network:
    """An IPv4-mapped IPv6 entry (``::ffff:192.0.2.1``, ``::ffff:192.0.2.0/120``) as
    the IPv4 network it means: clients are compared in IPv4 form (address_allowed),
    so the mapped form would never match anyone."""
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network(f"{mapped}/{network.prefixlen - 96}")
    return network


@lru_cache(maxsize=4096)
def permissions_of(stored: str) -> frozenset[str]:
    """The permission names in a stored permissions text."""
    return frozenset(stored.split())


@lru_cache(maxsize=4096)
def networks_of(stored: str) -> tuple[Network, ...]:
    """The networks of a stored allow-list (empty: any address)."""
    return tuple(ipaddress.ip_network(e, strict=False) for e in stored.split(",") if e)


def address_allowed(stored: str, address: str) -> bool:
    """Whether ``address`` may use a key with this stored allow-list."""
    networks = networks_of(stored)
    if not networks:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # no usable client address: refuse rather than guess
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:203.0.113.7 is 203.0.113.7
    return any(ip in net for net in networks)


def allow_summary(stored: str) -> str:
    """A short description of an allow-list for the key list."""
    networks = stored.split(",") if stored else []
    if not networks:
        return "any address"
    if len(networks) <= 2:
        return ", ".join(networks)
    return f"{networks[0]} and {len(networks) - 1} more"


def allow_lines(stored: str) -> str:
    """The allow-list as the form's textarea shows it, one entry a line."""
    return "\n".join(e for e in stored.split(",") if e)


def clean_expiry(raw: str, now: float) -> float | None:
    """The expiry time from a date field (YYYY-MM-DD): the key stops at 00:00 UTC that
    day; "" means it never expires. The date must be after today."""
    text = raw.strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise RuleError("Enter the expiry date as YYYY-MM-DD, or leave it empty.") from None
    at = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    if at <= now:
        raise RuleError("Choose an expiry date after today.")
    if day.year > 9000:
        raise RuleError("Choose an expiry date before the year 9000.")
    return at


def expiry_day(at: float) -> str:
    """An expiry time as the date the form shows (YYYY-MM-DD, UTC)."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class Limits:
    """What a named key is: its name, permissions, allow-list and expiry (as stored)."""

    name: str
    permissions: str
    allow_ips: str
    expires_at: float | None


def limits_from_form(form: dict[str, str], now: float) -> Limits | dict[str, str]:
    """A key's limits from the New-key form, or the message for each field that is wrong."""
    chosen = [p for p, name in PERMISSION_FIELDS.items() if form.get(name) == "yes"]
    errors: dict[str, str] = {}
    values: dict[str, object] = {}
    checks: dict[str, Callable[[], object]] = {
        "name": lambda: clean_name(form.get("name", "")),
        "permissions": lambda: clean_permissions(chosen),
        "allow_ips": lambda: clean_allow_list(form.get("allow_ips", "")),
        "expires": lambda: clean_expiry(form.get("expires", ""), now),
    }
    for field_name, check in checks.items():
        try:
            values[field_name] = check()
        except RuleError as exc:
            errors[field_name] = str(exc)
    if errors:
        return errors
    expires = values["expires"]
    return Limits(
        name=str(values["name"]),
        permissions=str(values["permissions"]),
        allow_ips=str(values["allow_ips"]),
        expires_at=expires if isinstance(expires, float) else None,
    )
