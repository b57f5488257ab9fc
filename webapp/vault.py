"""Key ring, AES-256-GCM encryption bound to its row, and keyed look-up digests.

A ciphertext is the text ``v1.<key id>.<nonce>.<ciphertext+tag>`` (base64url parts).
Its associated data names the table, row and field it belongs to, so a ciphertext
copied to another row or field fails to decrypt instead of leaking there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_FILE_NAME = "master.key"
_KID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class VaultError(Exception):
    """A ciphertext cannot be opened: wrong key, wrong row, or tampered."""


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def aad(table: str, row_id: object, field: str) -> str:
    """Associated data binding a ciphertext to one field of one row."""
    return f"{table}:{row_id}:{field}"


def new_key_line(kid: str) -> str:
    """A fresh ``kid:base64key`` entry for a key ring."""
    return f"{kid}:{_b64e(secrets.token_bytes(32))}"


class KeyRing:
    """Master keys by id; the last one listed encrypts, every one decrypts."""

    def __init__(self, keys: dict[str, bytes], active: str) -> None:
        if active not in keys:
            raise ValueError("the active key id is not in the ring")
        self._keys = dict(keys)
        self.active_id = active
        self._derived: dict[str, bytes] = {}

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        """Parse ``kid:base64key`` entries separated by commas or new lines."""
        keys: dict[str, bytes] = {}
        last = ""
        for entry in re.split(r"[,\n]", spec):
            entry = entry.strip()
            if not entry or entry.startswith("#"):
                continue
            kid, sep, b64 = entry.partition(":")
            if not sep or not _KID.match(kid):
                raise ValueError("each master key must look like 'id:base64key'")
            try:
                raw = _b64d(b64.strip())
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"master key {kid!r} is not valid base64") from exc
            if len(raw) != 32:
                raise ValueError(f"master key {kid!r} must be 32 bytes (AES-256)")
            keys[kid] = raw
            last = kid
        if not keys:
            raise ValueError("no master key given")
        return cls(keys, last)

    @property
    def key_ids(self) -> list[str]:
        """The ids of every key in the ring."""
        return list(self._keys)

    def encrypt(self, plaintext: str | bytes, associated: str) -> str:
        """Encrypt under the active key, bound to ``associated``."""
        data = plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self._keys[self.active_id]).encrypt(
            nonce, data, self._ad(self.active_id, associated)
        )
        return f"v1.{self.active_id}.{_b64e(nonce)}.{_b64e(sealed)}"

    def decrypt(self, token: str, associated: str) -> bytes:
        """Open a ciphertext made by :meth:`encrypt` for the same ``associated``."""
        try:
            version, kid, nonce_b64, sealed_b64 = token.split(".")
            key = self._keys[kid]
            if version != "v1":
                raise ValueError(version)
            return AESGCM(key).decrypt(
                _b64d(nonce_b64), _b64d(sealed_b64), self._ad(kid, associated)
            )
        except KeyError as exc:
            raise VaultError("the key that sealed this value is not in the ring") from exc
        except (ValueError, binascii.Error, InvalidTag) as exc:
            raise VaultError("the value cannot be decrypted here") from exc

    def decrypt_text(self, token: str, associated: str) -> str:
        """:meth:`decrypt`, decoded as UTF-8."""
        return self.decrypt(token, associated).decode("utf-8")

    def key_id_of(self, token: str) -> str:
        """The id of the key that sealed ``token``."""
        return token.split(".")[1]

    def derive(self, purpose: str) -> bytes:
        """A 32-byte sub-key of the active key for one purpose (HKDF-SHA256)."""
        if purpose not in self._derived:
            hkdf = HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=b"autotrader-security",
                info=purpose.encode(),
            )
            self._derived[purpose] = hkdf.derive(self._keys[self.active_id])
        return self._derived[purpose]

    def digest(self, purpose: str, value: str) -> str:
        """A keyed HMAC-SHA256 look-up digest of ``value`` (hex)."""
        return hmac.new(self.derive(purpose), value.encode("utf-8"), hashlib.sha256).hexdigest()

    @staticmethod
    def _ad(kid: str, associated: str) -> bytes:
        return f"autotrader/v1|{kid}|{associated}".encode()


def load_key_ring(spec: str, data_dir: Path) -> KeyRing:
    """The ring from ``AUTOTRADER_MASTER_KEYS``, else from (or new in) the key file."""
    if spec.strip():
        return KeyRing.parse(spec)
    path = data_dir / KEY_FILE_NAME
    if not path.exists():
        _create_key_file(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ValueError(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
    return KeyRing.parse(path.read_text(encoding="utf-8"))


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("# AutoTrader master keys: keep apart from database backups.\n")
        handle.write(new_key_line("k1") + "\n")
