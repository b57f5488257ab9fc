"""WebAuthn through python-fido2: the relying party, and the two ceremonies as bytes.

The relying party (RP) comes from ``AUTOTRADER_PUBLIC_URL``: its host name is the RP
id, its scheme, host and port the one origin we accept — exactly, not "any subdomain"
as fido2's default check would. Attestation is "none" (we trust no vendor list, and
the key's origin does not matter for a second factor); user verification is
preferred, not required, since the password was checked first.

Everything the browser sends is untrusted: any failure to parse or verify becomes
:class:`Refused` with a message for the trader, never a 500.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fido2.server import Fido2Server
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import (
    AttestationConveyancePreference,
    AttestedCredentialData,
    AuthenticationResponse,
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialType,
    PublicKeyCredentialUserEntity,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from webapp.config import ConfigError

# fido2 logs every credential id it registers or checks at INFO; ids identify a user's
# authenticator across sites' logs, so they stay out of ours.
logging.getLogger("fido2").setLevel(logging.WARNING)

RP_NAME = "AutoTrader"
MAX_RESPONSE = 16 * 1024  # a "none" attestation or an assertion is well under 2 KB
MIN_CREDENTIAL_ID = 16  # bytes: shorter ids could be guessed or collide
MAX_CREDENTIAL_ID = 1023  # the WebAuthn limit
UNREADABLE = "The passkey's answer could not be read. Try again."
NOT_ACCEPTED = "That passkey was not accepted. Use a passkey added to this account."


class Refused(Exception):
    """A ceremony's response failed verification; ``str(exc)`` is for the trader."""


@dataclass(frozen=True)
class RelyingParty:
    """Who passkeys are made for: the RP id (a host name) and the one accepted origin."""

    id: str
    origin: str


def relying_party(public_url: str) -> RelyingParty:
    """The RP of ``public_url``; :class:`ConfigError` saying why when it cannot be one."""
    name = "AUTOTRADER_PUBLIC_URL"
    try:
        parts = urlsplit(public_url.strip())
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{name} is not a valid URL: {public_url!r}") from exc
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError(
            f"{name} must be the address browsers use, such as https://trading.example.com "
            f"or http://localhost:8000; got {public_url!r}"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ConfigError(f"{name} must be scheme, host and port only; got {public_url!r}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise ConfigError(
            f"{name} names an IP address ({host}), and passkeys cannot be bound to one. "
            "Use a host name: http://localhost:8000 on this machine, or your HTTPS domain."
        )
    local = host == "localhost" or host.endswith(".localhost")
    if parts.scheme == "http" and not local:
        raise ConfigError(
            f"{name} uses http:// on {host}; browsers offer passkeys only over https:// "
            "(or on http://localhost). Put the app behind TLS and use its https:// address."
        )
    default_port = 443 if parts.scheme == "https" else 80
    shown = f":{port}" if port is not None and port != default_port else ""
    return RelyingParty(id=host, origin=f"{parts.scheme}://{host}{shown}")


def _server(rp: RelyingParty) -> Fido2Server:
    return Fido2Server(
        PublicKeyCredentialRpEntity(name=RP_NAME, id=rp.id),
        attestation=AttestationConveyancePreference.NONE,
        verify_origin=lambda origin: origin == rp.origin,
    )


def _descriptors(ids: list[bytes]) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(type=PublicKeyCredentialType.PUBLIC_KEY, id=i) for i in ids
    ]


def _state(challenge: bytes) -> dict[str, Any]:
    return {
        "challenge": websafe_encode(challenge),
        "user_verification": UserVerificationRequirement.PREFERRED,
    }


def creation_options(
    rp: RelyingParty, handle: bytes, username: str, existing: list[bytes], challenge: bytes
) -> dict[str, Any]:
    """Options for ``navigator.credentials.create`` (JSON-ready, base64url)."""
    user = PublicKeyCredentialUserEntity(name=username, id=handle, display_name=username)
    options, _state_unused = _server(rp).register_begin(
        user,
        _descriptors(existing),  # the same authenticator cannot be added twice
        # A second factor after the password: the server always names the credentials,
        # so there is no need to fill a security key's few discoverable slots.
        resident_key_requirement=ResidentKeyRequirement.DISCOURAGED,
        user_verification=UserVerificationRequirement.PREFERRED,
        challenge=challenge,
    )
    return dict(options)


def request_options(rp: RelyingParty, allowed: list[bytes], challenge: bytes) -> dict[str, Any]:
    """Options for ``navigator.credentials.get`` naming the user's passkeys."""
    options, _state_unused = _server(rp).authenticate_begin(
        _descriptors(allowed),
        user_verification=UserVerificationRequirement.PREFERRED,
        challenge=challenge,
    )
    return dict(options)


def _parse(raw: str) -> dict[str, Any]:
    if not raw or len(raw) > MAX_RESPONSE:
        raise Refused(UNREADABLE)
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise Refused(UNREADABLE) from exc
    if not isinstance(value, dict):
        raise Refused(UNREADABLE)
    return value


@dataclass(frozen=True)
class NewCredential:
    """A verified new passkey: its id, what we store to check it, and its counter."""

    credential_id: bytes
    credential_data: bytes  # AAGUID, id and COSE public key: public, not secret
    sign_count: int


def verify_creation(rp: RelyingParty, challenge: bytes, raw: str) -> NewCredential:
    """Check a ``create()`` response against the challenge, the origin and the RP id."""
    response = _parse(raw)
    try:
        auth_data = _server(rp).register_complete(_state(challenge), response)
    except Exception as exc:  # fido2 raises ValueError, KeyError, TypeError, CBOR errors…
        raise Refused("The new passkey could not be verified. Try again.") from exc
    data = auth_data.credential_data
    if data is None or not MIN_CREDENTIAL_ID <= len(data.credential_id) <= MAX_CREDENTIAL_ID:
        raise Refused("This authenticator's credential id is unusable. Try another one.")
    return NewCredential(bytes(data.credential_id), bytes(data), auth_data.counter)


@dataclass(frozen=True)
class Assertion:
    """A verified assertion: which passkey signed, and the counter it reported."""

    credential_id: bytes
    sign_count: int


def verify_assertion(
    rp: RelyingParty, challenge: bytes, raw: str, stored: list[bytes]
) -> Assertion:
    """Check a ``get()`` response: challenge, origin, RP id, user presence, signature.

    ``stored`` holds the user's credential data; only those passkeys can pass. The
    signature counter is returned, not judged: the caller compares it with the stored
    one *after* the signature proved the passkey genuine.
    """
    response = _parse(raw)
    credentials = [AttestedCredentialData(blob) for blob in stored]
    try:
        matched = _server(rp).authenticate_complete(_state(challenge), credentials, response)
        counter = response_counter(response)
    except Exception as exc:  # any malformed or forged field: refused, never a 500
        raise Refused(NOT_ACCEPTED) from exc
    return Assertion(bytes(matched.credential_id), counter)


def response_counter(response: dict[str, Any]) -> int:
    """The signature counter inside an assertion's authenticator data."""
    return AuthenticationResponse.from_dict(response).response.authenticator_data.counter


def b64(data: bytes) -> str:
    """Bytes as unpadded base64url text (how credential ids are stored and sent)."""
    return websafe_encode(data)


def unb64(text: str) -> bytes:
    """The bytes of base64url text."""
    return websafe_decode(text)
