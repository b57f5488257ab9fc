"""A software WebAuthn authenticator for HTTP tests: real P-256 keys and signatures.

It answers the server's JSON options the way a browser and authenticator would
(``navigator.credentials.create`` / ``get`` results as JSON), so the server's own
verification (python-fido2) runs unchanged. Knobs let tests lie: another origin,
another RP id, a counter that goes backwards.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import struct

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fido2 import cbor
from fido2.cose import ES256
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import AttestedCredentialData

from tests.helpers import Trader

ORIGIN = "http://localhost:8000"
UP, UV, AT = 0x01, 0x04, 0x40


class SoftAuthenticator:
    """One credential on one authenticator, with its signature counter."""

    def __init__(self, origin: str = ORIGIN, rp_id: str = "localhost") -> None:
        self.origin = origin
        self.rp_id = rp_id
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.counter = 0
        self.user_handle = b""

    def clone(self) -> SoftAuthenticator:
        """A copy of this authenticator's key, as if it had been cloned (same counter)."""
        return copy.copy(self)

    def _auth_data(self, rp_id: str, flags: int, credential: bytes = b"") -> bytes:
        rp_hash = hashlib.sha256(rp_id.encode()).digest()
        return rp_hash + bytes([flags]) + struct.pack(">I", self.counter) + credential

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin}
        return json.dumps({**data, "crossOrigin": False}).encode()

    def create(self, options: dict, *, origin: str | None = None) -> str:
        """The JSON of a ``create()`` result for the server's creation options."""
        public = options["publicKey"]
        self.user_handle = websafe_decode(public["user"]["id"])
        cose = ES256.from_cryptography_key(self.key.public_key())
        attested = AttestedCredentialData.create(b"\0" * 16, self.credential_id, cose)
        auth_data = self._auth_data(public["rp"]["id"], UP | UV | AT, bytes(attested))
        attestation = cbor.encode({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client = self._client_data("webauthn.create", public["challenge"], origin)
        return self._credential(client, attestationObject=attestation)

    def get(
        self,
        options: dict,
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        counter: int | None = None,
    ) -> str:
        """The JSON of a ``get()`` result: the counter moves on (unless ``counter`` is set).

        It answers even when the server did not name this credential (a browser would
        not), so tests can show the server refusing a removed passkey itself.
        """
        public = options["publicKey"]
        self.counter = self.counter + 1 if counter is None else counter
        auth_data = self._auth_data(rp_id or public["rpId"], UP | UV)
        client = self._client_data("webauthn.get", public["challenge"], origin)
        signed = auth_data + hashlib.sha256(client).digest()
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return self._credential(
            client,
            authenticatorData=auth_data,
            signature=signature,
            userHandle=self.user_handle,
        )

    def _credential(self, client: bytes, **response: bytes) -> str:
        """A PublicKeyCredential as JSON, its ``response`` fields base64url-encoded."""
        fields = {"clientDataJSON": client, **response}
        return json.dumps(
            {
                "id": websafe_encode(self.credential_id),
                "rawId": websafe_encode(self.credential_id),
                "type": "public-key",
                "clientExtensionResults": {},
                "response": {name: websafe_encode(value) for name, value in fields.items()},
            }
        )


# The passkey dialogs of the Security page, driven as its script does.
PASSKEYS = "/settings/security/passkeys"


async def options(trader: Trader, path: str) -> dict:
    """Ask the server for WebAuthn options as the page's script does."""
    response = await trader.hx("POST", path)
    assert response.status_code == 200, response.text
    return response.json()


async def add_passkey(
    trader: Trader, authenticator: SoftAuthenticator, name: str = "Laptop", **second: str
) -> httpx.Response:
    """Create a passkey and submit the Add dialog with the password (and ``second``)."""
    created = authenticator.create(await options(trader, f"{PASSKEYS}/options"))
    data = {
        "step": "verify",
        "password": trader.password,
        "passkey_name": name,
        "attestation": created,
        **second,
    }
    return await trader.hx("POST", f"{PASSKEYS}/add", data)
