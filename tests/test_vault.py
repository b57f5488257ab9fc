"""Vault: AES-256-GCM bound to its row and field, key ring, key file, digests."""

import stat

import pytest

from webapp.vault import KEY_FILE_NAME, KeyRing, VaultError, aad, load_key_ring, new_key_line


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing.parse(new_key_line("k1"))


def test_round_trip(ring):
    token = ring.encrypt("s3cret ✓", aad("api_keys", 1, "secret"))
    assert "s3cret" not in token
    assert token.startswith("v1.k1.")
    assert ring.decrypt_text(token, aad("api_keys", 1, "secret")) == "s3cret ✓"


def test_same_plaintext_encrypts_differently(ring):
    assert ring.encrypt("x", "a") != ring.encrypt("x", "a")


@pytest.mark.parametrize(
    "other",
    [aad("api_keys", 2, "secret"), aad("users", 1, "secret"), aad("api_keys", 1, "totp_secret")],
)
def test_moved_ciphertext_fails(ring, other):
    token = ring.encrypt("value", aad("api_keys", 1, "secret"))
    with pytest.raises(VaultError):
        ring.decrypt(token, other)


def test_tampered_ciphertext_fails(ring):
    token = ring.encrypt("value", "ctx")
    head, tail = token.rsplit(".", 1)
    flipped = tail[:-2] + ("A" if tail[-2] != "A" else "B") + tail[-1]
    with pytest.raises(VaultError):
        ring.decrypt(f"{head}.{flipped}", "ctx")
    with pytest.raises(VaultError):
        ring.decrypt("garbage", "ctx")


def test_newer_ring_still_decrypts_old_ciphertexts(ring):
    old_line = new_key_line("k1")
    old = KeyRing.parse(old_line)
    token = old.encrypt("kept", "ctx")
    newer = KeyRing.parse(f"{old_line},{new_key_line('k2')}")
    assert newer.active_id == "k2"
    assert newer.decrypt_text(token, "ctx") == "kept"
    assert newer.encrypt("new", "ctx").startswith("v1.k2.")


def test_unknown_key_id_fails(ring):
    token = KeyRing.parse(new_key_line("zz")).encrypt("v", "ctx")
    with pytest.raises(VaultError, match="not in the ring"):
        ring.decrypt(token, "ctx")


@pytest.mark.parametrize(
    "spec", ["", "nokey", "k1:notbase64!!", "k1:" + "A" * 10, "bad id:" + "A" * 43]
)
def test_bad_key_specs_are_refused(spec):
    with pytest.raises(ValueError):
        KeyRing.parse(spec)


def test_key_file_created_private_and_reused(tmp_path):
    first = load_key_ring("", tmp_path, create=True)
    path = tmp_path / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = load_key_ring("", tmp_path)
    token = first.encrypt("v", "ctx")
    assert second.decrypt_text(token, "ctx") == "v"


def test_key_file_readable_by_others_is_refused(tmp_path):
    load_key_ring("", tmp_path, create=True)
    (tmp_path / KEY_FILE_NAME).chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        load_key_ring("", tmp_path)


def test_digest_is_keyed_and_stable(ring):
    other = KeyRing.parse(new_key_line("k1"))
    assert ring.digest("p", "value") == ring.digest("p", "value")
    assert ring.digest("p", "value") != other.digest("p", "value")
    assert ring.digest("p", "value") != ring.digest("q", "value")
