"""Email addresses: checked, shown masked, and kept only as vault ciphertext."""

from __future__ import annotations

import re

from webapp.vault import KeyRing, aad

MAX_LENGTH = 254
# One plain address: no display name, no spaces, no control characters (no header
# injection), a dot in the domain. Anything fancier is refused with a clear message.
_SHAPE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
PROBLEM = "Enter one email address, like name@example.com."


def normalize(raw: str) -> str:
    """The address as stored: trimmed, domain lower-cased."""
    local, _, domain = raw.strip().rpartition("@")
    return f"{local}@{domain.lower()}" if local else raw.strip()


def problem(address: str) -> str:
    """What is wrong with ``address`` ("" when it is usable)."""
    if not address or len(address) > MAX_LENGTH or not _SHAPE.match(address):
        return PROBLEM
    return ""


def masked(address: str) -> str:
    """Enough to recognise an address, not to learn it: ``t***r@e***.com``."""
    local, _, domain = address.rpartition("@")
    name, dot, tld = domain.rpartition(".")
    shown_local = local[0] + "***" + (local[-1] if len(local) > 1 else "")
    return f"{shown_local}@{name[:1]}***{dot}{tld}"


def seal(keys: KeyRing, address: str, table: str, row_id: object, field: str) -> str:
    """The address as ciphertext bound to one field of one row."""
    return keys.encrypt(address, aad(table, row_id, field))


def open_sealed(keys: KeyRing, sealed: str, table: str, row_id: object, field: str) -> str:
    """The address sealed by :func:`seal` for the same row and field."""
    return keys.decrypt_text(sealed, aad(table, row_id, field))


def of_user(keys: KeyRing, user_id: int, sealed: str | None, field: str = "email") -> str:
    """A user's (confirmed or pending) address, or ""."""
    return open_sealed(keys, sealed, "users", user_id, field) if sealed else ""
