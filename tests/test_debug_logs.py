"""A live server at AUTOTRADER_LOG_LEVEL=debug: its log holds no stored value.

Hashes, digests, ciphertexts and session ids are what a database driver would print
as statement parameters; none may reach the log, whatever the level.
"""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from tests.live_server import LiveTrader, register_and_get_key, running_server

PASSWORD = "correct horse battery staple"


@pytest.mark.sqlite_only
def test_debug_level_logs_no_stored_value(tmp_path):
    env = {"AUTOTRADER_LOG_LEVEL": "debug", "AUTOTRADER_COOKIE_SECURE": "false"}
    with running_server(tmp_path, **env) as base:
        key = register_and_get_key(base, "alice", PASSWORD)
        with httpx.Client(timeout=30) as client:
            t = LiveTrader(client, "alice", PASSWORD)
            t.login(base, "a wrong password!")
            t.login(base)
            t.page(f"{base}/settings/security")
            t.hx(f"{base}/settings/security/api-key/view", {"step": "verify", "password": PASSWORD})
            assert client.get(f"{base}/api/v1/me", headers={"api-key": key}).status_code == 200
            cookie = client.cookies.get("autotrader_session")
        log = next(tmp_path.glob("server-*.log")).read_text()
    with sqlite3.connect(tmp_path / "var" / "autotrader.db") as db:
        stored = [
            *(r[0] for r in db.execute("SELECT password_hash FROM users")),
            *(v for r in db.execute("SELECT secret, digest FROM api_keys") for v in r),
            *(r[0] for r in db.execute("SELECT id FROM sessions")),
        ]
    assert "DEBUG" in log  # the level really was debug
    for value in [*stored, key, cookie, PASSWORD]:
        assert value and value not in log, f"found in the log: {value[:8]}…"
    assert "$argon2id$" not in log
    assert "v1." not in log.replace("/api/v1", "")  # no ciphertext in any form
