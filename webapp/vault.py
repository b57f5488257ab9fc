"""Key ring, AES-256-GCM encryption bound to its row, and keyed look-up digests.

A ciphertext is the text ``v1.<key id>.<nonce>.<ciphertext+tag>`` (base64url parts).
Its associated data names the table, row and field it belongs to, so a ciphertext
copied to another row or field fails to decrypt instead of leaking there.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_FILE_NAME = "master.key"
log = logging.getLogger("webapp.vault")
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


RETIRED = "# retired:"  # a key-file line naming a key that --remove-old dropped


class KeyRing:
    """Master keys by id; the last one listed encrypts, every one decrypts."""

    def __init__(self, keys: dict[str, bytes], active: str) -> None:
        if active not in keys:
            raise ValueError("the active key id is not in the ring")
        self._keys = dict(keys)
        self.active_id = active
        self._derived: dict[str, bytes] = {}
        # Where a newer ring comes from (the key file), for values sealed under a key
        # added after this ring was read: see :meth:`decrypt`.
        self.newer: Callable[[], KeyRing] | None = None
        # Key ids that rotate-keys --remove-old dropped once no data used them.
        self.retired: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        """Parse ``kid:base64key`` entries separated by commas or new lines."""
        keys: dict[str, bytes] = {}
        retired: set[str] = set()
        last = ""
        for entry in re.split(r"[,\n]", spec):
            entry = entry.strip()
            if entry.startswith(RETIRED):
                retired.add(entry.removeprefix(RETIRED).strip())
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
            if kid in keys:
                # Silently keeping one of two keys with one id would make every value
                # sealed under the other unreadable: refuse, say which.
                raise ValueError(f"master key id {kid!r} appears twice; give each key its own id")
            keys[kid] = raw
            last = kid
        if not keys:
            raise ValueError("no master key given")
        ring = cls(keys, last)
        ring.retired = frozenset(retired - set(keys))
        return ring

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
            if kid not in self._keys and self.newer is not None:
                # A request took its ring just before rotate-keys added a key and then
                # read a row rotation had already moved: the key file has the key.
                newer = self.newer()
                if kid in newer._keys:
                    return newer.decrypt(token, associated)
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
        return self._derive_with(self.active_id, purpose)

    def _derive_with(self, kid: str, purpose: str) -> bytes:
        cache_key = f"{kid}/{purpose}"
        if cache_key not in self._derived:
            hkdf = HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=b"autotrader-security",
                info=purpose.encode(),
            )
            self._derived[cache_key] = hkdf.derive(self._keys[kid])
        return self._derived[cache_key]

    def digest(self, purpose: str, value: str) -> str:
        """A keyed HMAC-SHA256 look-up digest of ``value`` (hex), under the active key."""
        return self._digest(self.derive(purpose), value)

    def digests(self, purpose: str, value: str) -> list[str]:
        """The digest under every key in the ring, active first.

        Looking up by all of them keeps the API working while a rotation is under way
        (some rows still carry digests made with the previous key).
        """
        found = [self.digest(purpose, value)]
        for kid in self._keys:
            if kid != self.active_id:
                found.append(self._digest(self._derive_with(kid, purpose), value))
        return found

    @staticmethod
    def _digest(key: bytes, value: str) -> str:
        return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()

    @staticmethod
    def _ad(kid: str, associated: str) -> bytes:
        return f"autotrader/v1|{kid}|{associated}".encode()


def load_key_ring(spec: str, data_dir: Path, *, create: bool = False) -> KeyRing:
    """The ring from ``AUTOTRADER_MASTER_KEYS``, else from the key file (made if
    ``create``: only webapp/keyring_check.py decides that, for an empty database)."""
    return KeySource(spec, data_dir, create=create).ring()


class KeySource:
    """Where the ring comes from. A key file is re-read when it changes, so a running
    app picks up the key that ``rotate-keys`` added without a restart.

    A missing key file is an error unless ``create`` (a brand-new install). Once loaded,
    a key file that goes missing, turns unreadable or gives a key id other bytes leaves
    the loaded ring in use: ``problem`` says why, and one error line is logged."""

    def __init__(self, spec: str, data_dir: Path, *, create: bool = False) -> None:
        self.from_env = bool(spec.strip())
        self.path = data_dir / KEY_FILE_NAME
        self._stamp: tuple[int, int] | None = None
        self.problem: str | None = None
        if self.from_env:
            self._ring = KeyRing.parse(spec)
        else:
            if create and not self.path.exists():
                with contextlib.suppress(FileExistsError):  # another worker made it first
                    _create_key_file(self.path)
            self._ring = self._read()

    @property
    def loaded(self) -> KeyRing:
        """The ring as last read, without looking at the key file (see :meth:`ring`)."""
        return self._ring

    def ring(self) -> KeyRing:
        """The current ring (one stat() call to notice a changed key file)."""
        if self.from_env:
            return self._ring
        try:
            found = self.path.stat()
        except OSError as exc:
            self._stamp = None  # read it again when it comes back
            self._report(_why(self.path, exc))
            return self._ring
        if (found.st_mtime_ns, found.st_size) != self._stamp:
            self._stamp = (found.st_mtime_ns, found.st_size)  # judge each version once
            try:
                self._ring = self._same_keys(self._read())
                self._report(None)
            except (OSError, ValueError) as exc:
                self._report(_why(self.path, exc))
        return self._ring

    def _same_keys(self, new: KeyRing) -> KeyRing:
        # A key id never changes its bytes, and rotation keeps the active key unless
        # --remove-old retired it (it says so in the file): any other file must not fork
        # the data.
        active = self._ring.active_id
        if active not in new.key_ids and active not in new.retired:
            raise ValueError(f"{self.path} no longer holds the active key {self._ring.active_id!r}")
        for kid in set(new.key_ids) & set(self._ring.key_ids):
            if not hmac.compare_digest(new._keys[kid], self._ring._keys[kid]):
                raise ValueError(f"{self.path} now holds a different key {kid!r}")
        return new

    def _report(self, problem: str | None) -> None:
        if problem != self.problem:
            if problem:
                log.error("key file: %s; serving with the keys loaded before", problem)
            else:
                log.info("key file %s is readable again", self.path)
        self.problem = problem

    def _read(self) -> KeyRing:
        found = self.path.stat()
        mode = stat.S_IMODE(found.st_mode)
        if mode & 0o077:
            raise ValueError(
                f"{self.path} is readable by others (mode {mode:o}); run: chmod 600 {self.path}"
            )
        ring = KeyRing.parse(self.path.read_text(encoding="utf-8"))
        ring.newer = self.ring
        self._stamp = (found.st_mtime_ns, found.st_size)
        return ring

    def append_key(self) -> str:
        """Add a new active key to the key file (atomically); returns its id."""
        if self.from_env:
            raise ValueError("keys come from AUTOTRADER_MASTER_KEYS: add the new key there")
        ids = self.ring().key_ids
        number = 1 + max((int(k[1:]) for k in ids if k[1:].isdigit()), default=0)
        kid = f"k{number}"
        text = self.path.read_text(encoding="utf-8").rstrip("\n") + "\n" + new_key_line(kid) + "\n"
        _write_private(self.path, text)
        return kid

    def remove_keys(self, unused: set[str]) -> None:
        """Drop keys no ciphertext uses any more from the key file (never the active one)."""
        unused = unused - {self.ring().active_id}
        lines = self.path.read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if line.partition(":")[0].strip() not in unused]
        # Running apps read the note: a dropped key was retired, not lost or replaced.
        kept += [f"{RETIRED} {kid}" for kid in sorted(unused)]
        _write_private(self.path, "\n".join(kept) + "\n")


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with a 0600 file: a crash leaves old or new, never half.

    The temporary file has a unique name (two writers never share one) and is removed
    if anything fails before the rename.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp made it 0600
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _why(path: Path, exc: Exception) -> str:
    """One phrase for what is wrong with the key file."""
    if isinstance(exc, FileNotFoundError):
        return f"{path} is missing"
    if isinstance(exc, OSError):
        return f"{path} cannot be read ({exc.strerror or type(exc).__name__})"
    return str(exc)


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("# AutoTrader master keys: keep apart from database backups.\n")
        handle.write(new_key_line("k1") + "\n")
