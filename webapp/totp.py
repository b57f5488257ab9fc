"""TOTP secrets, provisioning URI, QR code, code checks, and recovery codes.

RFC 6238 with SHA1, 6 digits and 30-second steps (what Google Authenticator and Authy
expect). A code is accepted one step early or late, and the caller stores the
accepted step so that no code works twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

import pyotp

STEP_SECONDS = 30
DIGITS = 6
WINDOW = 1
SECRET_BYTES = 20  # 160 bits, RFC 4226's recommendation
RECOVERY_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
_TOTP_SHAPE = re.compile(r"^[0-9]{6}$")
_RECOVERY_SHAPE = re.compile(rf"^[{_RECOVERY_ALPHABET}]{{5}}-?[{_RECOVERY_ALPHABET}]{{5}}$")
CODE_SHAPE_MESSAGE = (
    "Enter the 6-digit code from your authenticator app, or one of your recovery codes."
)


def new_secret() -> str:
    """A new base32 secret of 160 bits from the OS CSPRNG."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def provisioning_uri(secret: str, username: str, issuer: str) -> str:
    """The ``otpauth://totp/Issuer:username?…&issuer=Issuer`` URI for the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=username, issuer_name=issuer
    )


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code (no inline style, so the CSP allows it)."""
    import segno  # only set-up pages draw QR codes: keep it off start-up

    qr = segno.make(uri, error="m", micro=False)
    # A viewBox (so CSS may shrink it on a narrow screen without cutting the edges off)
    # and its natural size (5 px a module, the 4-module quiet zone included).
    svg = qr.svg_inline(scale=5, border=4, dark="#000", light="#fff", omitsize=True)
    width, height = qr.symbol_size(scale=5, border=4)
    return svg.replace("<svg ", f'<svg width="{width}" height="{height}" ', 1)


def parse_code(raw: str) -> tuple[str, str] | None:
    """``("totp", digits)`` or ``("recovery", code)``; None for any other shape."""
    cleaned = re.sub(r"\s+", "", raw or "")
    if _TOTP_SHAPE.fullmatch(cleaned):
        return "totp", cleaned
    lowered = cleaned.lower()
    if _RECOVERY_SHAPE.fullmatch(lowered):
        return "recovery", lowered.replace("-", "")
    return None


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The time-step whose code equals ``code`` within ±1 step of ``now``; else None."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    try:
        return totp.verify_and_get_timecode(code, for_time=int(now), valid_window=WINDOW)
    except pyotp.exceptions.OTPVerificationError:
        return None


def code_at(secret: str, now: float) -> str:
    """The code an authenticator app shows at ``now`` (used by tests and tools)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).at(int(now))


def new_recovery_codes() -> list[str]:
    """Ten fresh single-use recovery codes like ``k7dq2-mx9tr`` (about 49 bits each)."""
    codes = []
    for _ in range(RECOVERY_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def recovery_digest(key: bytes, code: str) -> str:
    """Keyed hash of a recovery code (hyphen and case ignored)."""
    normalized = code.lower().replace("-", "").strip()
    return hmac.new(key, normalized.encode("ascii"), hashlib.sha256).hexdigest()
