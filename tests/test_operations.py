"""Operator side: key rotation, backups, logs without secrets, event retention."""

import json
import logging
import sqlite3
import stat
from dataclasses import replace

import pytest
from sqlmodel import select

from tests.helpers import (
    CREDS,
    NEW,
    PASSWORD,
    Trader,
    add,
    change_2fa,
    crash_on_row,
    enrol,
    fast_passwords,
    key_in,
    make_client,
)
from webapp.app import create_app
from webapp.backup import backup
from webapp.config import ConfigError, Settings
from webapp.logs import JsonFormatter
from webapp.maintenance import prune_events
from webapp.models import ApiKey, SecurityEvent, TradingAccount, User
from webapp.repositories import api_keys
from webapp.repositories import trading_accounts as repo
from webapp.rotation import drop_unused_keys, rotate
from webapp.security.codes import recovery_key, totp_secret
from webapp.vault import KEY_FILE_NAME, KeyRing, VaultError


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    """Key-file mode (no AUTOTRADER_MASTER_KEYS), as rotation works on the file."""
    return Settings(data_dir=tmp_path / "var", database_url=database_url)


async def fill(app, trader, clock) -> str:
    """A user with an API key, 2FA, recovery codes and a trading account."""
    await enrol(trader, clock)
    await add(trader)
    return await trader.reveal_key()


async def everything_decrypts(app, ring: KeyRing) -> None:
    async with app.state.ctx.db() as db:
        user = (await db.exec(select(User))).first()
        row = (await db.exec(select(ApiKey))).first()
        account = (await db.exec(select(TradingAccount))).first()
    ctx = type("Ctx", (), {"keys": ring})()
    assert len(totp_secret(ctx, user)) == 32 and len(recovery_key(ctx, user)) == 32
    assert api_keys.reveal(ring, row).startswith("at_")
    assert repo.reveal(ring, account)["apiSecret"] == CREDS["apiSecret"]


async def test_rotate_then_drop_the_old_key(app, client, trader, clock, settings):
    key = await fill(app, trader, clock)
    old_ring = app.state.ctx.keys
    report = await rotate(settings)
    assert report.added_key and report.key_id == "k2"
    assert report.counts["api_keys.secret"] == 1
    assert report.counts["trading_accounts.credentials"] == 1
    assert report.counts["users.totp_secret"] == 1 and report.unused_keys == {"k1"}
    # The running app re-reads the key file: the API and the vault keep working.
    me = await client.get("/api/v1/me", headers={"api-key": key})
    assert me.status_code == 200
    assert await drop_unused_keys(settings) == {"k1"}
    text = (settings.data_dir / KEY_FILE_NAME).read_text()
    assert "k1:" not in text and "k2:" in text
    assert stat.S_IMODE((settings.data_dir / KEY_FILE_NAME).stat().st_mode) == 0o600
    new_ring = app.state.ctx.keys
    assert new_ring.key_ids == ["k2"]
    await everything_decrypts(app, new_ring)
    old_ring.newer = None  # the old key alone, not the key file's newer ring
    with pytest.raises(VaultError):
        await everything_decrypts(app, old_ring)
    assert (await client.get("/api/v1/me", headers={"api-key": key})).status_code == 200
    view = await trader.hx(
        "POST", "/settings/security/api-key/view", {"step": "verify", "password": PASSWORD}
    )
    assert key_in(view.text) == key


async def test_rotation_failing_half_way_loses_nothing(app, client, trader, clock, settings):
    key = await fill(app, trader, clock)
    old_ring = app.state.ctx.keys
    with pytest.raises(RuntimeError):
        await rotate(settings, on_row=crash_on_row(2))
    # Batches before the crash are committed, the crashed one rolled back: every secret
    # opens with the ring as it stands (old and new key), and the API key still works.
    await everything_decrypts(app, app.state.ctx.keys)
    assert old_ring.key_ids == ["k1"] and app.state.ctx.keys.key_ids == ["k1", "k2"]
    assert (await client.get("/api/v1/me", headers={"api-key": key})).status_code == 200
    report = await rotate(settings)  # running it again finishes the job
    assert not report.added_key and report.key_id == "k2"
    await everything_decrypts(app, app.state.ctx.keys)


async def test_rotation_with_env_keys_reencrypts_under_the_last_key(tmp_path, clock, database_url):
    from webapp.vault import new_key_line

    first = new_key_line("k1")
    settings = Settings(data_dir=tmp_path / "var", master_keys=first, database_url=database_url)
    app = create_app(settings, clock=clock, passwords=fast_passwords())
    async with app.router.lifespan_context(app), make_client(app) as client:
        trader = Trader(client)
        await trader.register()
        key = await trader.reveal_key()
    both = replace(settings, master_keys=f"{first},{new_key_line('k2')}")
    report = await rotate(both)
    assert report.key_id == "k2" and not report.added_key
    assert report.counts["api_keys.secret"] == 1
    only_new = both.master_keys.split(",")[1]
    app2 = create_app(replace(settings, master_keys=only_new), clock=clock)
    async with app2.router.lifespan_context(app2), make_client(app2) as client:
        assert (await client.get("/api/v1/me", headers={"api-key": key})).status_code == 200


@pytest.mark.sqlite_only
async def test_backup_while_running(app, trader, settings, tmp_path):
    target = tmp_path / "copy.db"
    message = backup(settings, target)
    assert "useless without the master key" in message
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT username FROM users").fetchall() == [("alice",)]
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with pytest.raises(ValueError, match="exists"):
        backup(settings, target)
    pg = Settings(data_dir=tmp_path, database_url="postgresql+asyncpg://x/y")
    with pytest.raises(ValueError, match="pg_dump"):
        backup(pg, tmp_path / "other.db")


@pytest.mark.sqlite_only
def test_backup_cli(app, tmp_path, settings):
    import subprocess
    import sys

    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "webapp",
            "backup",
            str(tmp_path / "b.db"),
            "--data-dir",
            str(settings.data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "Backed up" in run.stdout


def test_json_log_lines():
    record = logging.LogRecord(
        "webapp.access", logging.INFO, "x", 1, "GET %s %d", ("/p", 200), None
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "GET /p 200" and line["level"] == "INFO"


def test_bad_log_settings_are_refused():
    with pytest.raises(ConfigError):
        Settings.from_env({"AUTOTRADER_LOG_FORMAT": "xml"})
    with pytest.raises(ConfigError):
        Settings.from_env({"AUTOTRADER_EVENT_RETENTION_DAYS": "0"})


async def test_old_events_are_pruned(app, trader, clock):
    async with app.state.ctx.db() as db:
        db.add(SecurityEvent(user_id=1, at=clock.now - 366 * 86400, kind="signin"))
        db.add(SecurityEvent(user_id=1, at=clock.now - 364 * 86400, kind="signin"))
        await db.commit()
    assert await prune_events(app.state.ctx) == 1
    async with app.state.ctx.db() as db:
        ages = [clock.now - e.at for e in (await db.exec(select(SecurityEvent))).all()]
    assert max(ages) < 365 * 86400


async def test_a_whole_journey_logs_no_secret(app, client, trader, clock, caplog):
    caplog.set_level(logging.DEBUG)
    secrets = [PASSWORD, "a brand new passphrase 42", *CREDS.values()]
    key = await fill(app, trader, clock)
    secrets += [key, trader.totp_secret, *trader.recovery]
    regenerated = await trader.hx(
        "POST", "/settings/security/api-key/regenerate", {"step": "verify", "confirm": "yes"}
    )
    secrets.append(key_in(regenerated.text))
    clock.advance(30)
    code = trader.code(clock)
    secrets.append(code)
    await change_2fa(trader, clock, "credentials-on", code=code)
    await client.get(f"/api/v1/me?api-key={key}")  # a key wrongly put in a URL
    await client.get("/api/v1/me", headers={"api-key": secrets[-2]})
    api_secret = "api-made-secret-xyz"
    secrets.append(api_secret)
    await client.post(
        "/api/v1/trading-accounts",
        headers={"api-key": secrets[-3]},
        json={**NEW, **CREDS, "apiSecret": api_secret, "pseudoAccName": "Api"},
    )
    account = (await trader.page("/trading-accounts")).text
    assert "Main" in account
    clock.advance(30)
    view = await trader.hx(
        "POST",
        "/trading-accounts/1/view",
        {"step": "verify", "password": PASSWORD, "code": trader.code(clock)},
    )
    assert CREDS["apiSecret"] in view.text
    clock.advance(30)
    secrets.append(trader.code(clock))
    changed = await trader.hx(
        "POST",
        "/settings/security/password",
        {"password": PASSWORD, "new_password": "a brand new passphrase 42", "code": secrets[-1]},
    )
    assert changed.status_code == 200
    secrets.append(client.cookies.get("autotrader_session"))
    # The test's own HTTP client (httpx) logs URLs it sends; only the server's lines count.
    server_side = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in server_side)
    assert "api_key_viewed" in logged and "GET /api/v1/me" in logged
    for value in secrets:
        assert value and value not in logged, f"secret found in logs: {value[:6]}…"
