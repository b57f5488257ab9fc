"""The API key's format: ``at_`` + 256 random bits in base62 + a CRC32 checksum."""

from __future__ import annotations

import re
import secrets
import zlib

PREFIX = "at_"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DIGIT = {char: index for index, char in enumerate(_ALPHABET)}
_BODY_LEN = 43  # 62**43 > 2**256
_CHECK_LEN = 6  # 62**6 > 2**32
_SHAPE = re.compile(rf"^{PREFIX}[0-9A-Za-z]{{{_BODY_LEN + _CHECK_LEN}}}$")
LOOKUP_PURPOSE = "api-key-lookup"
_IN_TEXT = re.compile(rf"{PREFIX}[0-9A-Za-z]{{8,}}")


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        digits.append(_ALPHABET[rem])
    return "".join(reversed(digits))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), _CHECK_LEN)


def generate() -> str:
    """A new API key from ``secrets``."""
    body = _base62(secrets.randbits(256), _BODY_LEN)
    return PREFIX + body + _checksum(body)


def is_well_formed(key: str) -> bool:
    """Shape and checksum hold: a mistyped key is refused without a database query."""
    if not _SHAPE.fullmatch(key):
        return False
    body, check = key[len(PREFIX) : -_CHECK_LEN], key[-_CHECK_LEN:]
    # The check digits read as a number equal the CRC exactly when _checksum(body) ==
    # check (six base62 digits hold any CRC32 one way only); cheaper than encoding.
    value = 0
    for char in check:
        value = value * 62 + _DIGIT[char]
    return value == zlib.crc32(body.encode("ascii"))


def hint(key: str) -> str:
    """The last four characters, kept in plain text to draw the masked key."""
    return key[-4:]


def masked(hint_text: str) -> str:
    """How the key is shown until it is revealed: prefix, dots, last four."""
    return f"{PREFIX}{'•' * 12}{hint_text}"


def mask_in(text: str) -> str:
    """``text`` with anything shaped like a key cut to its prefix (for logged paths: a
    key pasted into a URL path must not reach a log)."""
    if PREFIX not in text:
        return text  # the common case costs one substring search
    return _IN_TEXT.sub(f"{PREFIX}…", text)
