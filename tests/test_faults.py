"""Fault injection with real files and real processes: a missing or wrong master key, a
key file gone at runtime, a full or read-only disk, a newer schema, every CLI failure.

Each test asserts the exact message, the status (HTTP or exit code) and that the data is
intact afterwards. Mounting a small tmpfs or a read-only bind mount needs root; those
tests skip with that reason otherwise (CI runs as root).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from tests import databases
from tests.helpers import CREDS, NEW
from tests.live_server import ROOT, _wait_healthy, free_port, register_and_get_key
from webapp import faults, keyring_check, sealed_columns
from webapp.db import make_engine
from webapp.schema import HEAD
from webapp.vault import KeyRing, new_key_line

PASSWORD = "correct horse battery staple"
ACCOUNT = {**NEW, **CREDS}


def account(name: str) -> dict:
    """A trading account with a name of its own (names are unique per trader)."""
    return {**ACCOUNT, "pseudoAccName": name, "loginId": "ID-" + name.replace(" ", "_")}


CANNOT_SAVE = "The server cannot save changes right now; nothing was changed."
as_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="mounting a tmpfs or a read-only bind mount needs root"
)


@dataclass
class Install:
    """A data folder and database that hold one trader with an API key and an account."""

    data_dir: Path
    url: str
    key: str
    folder: Path

    @property
    def key_file(self) -> Path:
        return self.data_dir / "master.key"

    @property
    def db_file(self) -> Path:
        return self.data_dir / "autotrader.db"


def env_for(install: Install, **extra: str) -> dict[str, str]:
    """The environment of a command on this install (key file mode unless told)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUTOTRADER_DATABASE_URL": install.url}
    env["AUTOTRADER_COOKIE_SECURE"] = "false"
    env.pop("AUTOTRADER_MASTER_KEYS", None)
    env.pop("AUTOTRADER_LOG_LEVEL", None)
    return {**env, **extra}


def cli(install: Install, *args: str, **extra: str) -> subprocess.CompletedProcess:
    """``python -m webapp ARGS --data-dir …``; a command that should refuse ends quickly."""
    command = [sys.executable, "-m", "webapp", *args, "--data-dir", str(install.data_dir)]
    return subprocess.run(
        command, capture_output=True, text=True, env=env_for(install, **extra), timeout=60
    )


@contextlib.contextmanager
def server(install: Install, *, workers: int = 1, **extra: str) -> Iterator[tuple[str, Path]]:
    """``python -m webapp serve`` on a free loopback port; yields its URL and log file."""
    port = free_port()
    log_path = install.folder / f"server-{port}.log"
    command = [sys.executable, "-m", "webapp", "serve", "--port", str(port)]
    command += ["--data-dir", str(install.data_dir), "--workers", str(workers)]
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env_for(install, **extra), stdout=log, stderr=log
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(base, proc, log_path)
            yield base, log_path
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def api(base: str, key: str, method: str, path: str, body: dict | None = None) -> httpx.Response:
    """One API call with the trader's key."""
    return httpx.request(method, base + path, json=body, headers={"api-key": key}, timeout=30)


def refused(run: subprocess.CompletedProcess, message: str) -> None:
    """Exit 2, and stderr is exactly one line: the message (no traceback)."""
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    assert run.stderr == f"error: {message}\n", run.stderr
    assert "Traceback" not in run.stdout + run.stderr


def new_install(folder: Path, data_dir: Path | None = None) -> Install:
    """A fresh install with one trader, an API key and one trading account."""
    install = Install(data_dir or folder / "var", databases.fresh_url(), "", folder)
    with server(install) as (base, _):
        install.key = register_and_get_key(base, "alice", PASSWORD)
        assert (
            api(base, install.key, "POST", "/api/v1/trading-accounts", ACCOUNT).status_code == 201
        )
    return install


@pytest.fixture
def install(tmp_path) -> Install:
    """A stopped install that holds data."""
    return new_install(tmp_path)


async def _read_everything(install: Install, ring: KeyRing) -> dict:
    engine = make_engine(install.url or f"sqlite+aiosqlite:///{install.db_file}")
    opened: dict = {"version": None, "secrets": 0}
    try:
        async with engine.connect() as conn:
            opened["version"] = (
                await conn.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar()
            for s in sealed_columns.ALL:
                ids = ", ".join(s.bound_ids)
                sql = f"SELECT {ids}, {s.column} FROM {s.table} WHERE {s.column} IS NOT NULL"  # noqa: S608
                for row in (await conn.execute(text(sql))).all():
                    ring.decrypt(row[-1], s.bound_to(*row[:-1]))
                    opened["secrets"] += 1
            opened["accounts"] = (
                await conn.execute(text("SELECT count(*) FROM trading_accounts"))
            ).scalar()
    finally:
        await engine.dispose()
    return opened


def intact(install: Install, key_text: str, accounts: int = 1) -> None:
    """Every secret opens with ``key_text``'s ring; the account count is as expected."""
    found = asyncio.run(_read_everything(install, KeyRing.parse(key_text)))
    assert found["secrets"] >= 2 and found["accounts"] == accounts


def still_serves(install: Install, accounts: int = 1) -> None:
    """A restarted server answers the trader's key and lists their accounts."""
    with server(install) as (base, _):
        assert api(base, install.key, "GET", "/api/v1/me").status_code == 200
        listed = api(base, install.key, "GET", "/api/v1/trading-accounts").json()["result"]
        assert len(listed) == accounts and listed[0]["pseudoAccName"] == "Main"


# --- the key ring proves itself at start ----------------------------------------------


def refused_at_start(install: Install, message: str) -> None:
    """Both ``serve`` and ``rotate-keys`` stop with ``message``, before doing anything."""
    refused(cli(install, "serve", "--port", str(free_port())), message)
    refused(cli(install, "rotate-keys"), message)


def test_missing_key_on_data_refuses_every_command_and_makes_no_key(install):
    saved = install.key_file.read_text()
    install.key_file.unlink()
    message = (
        f"There is no key file at {install.key_file} but the database already holds "
        "traders: restore master.key from where you keep it (or set "
        "AUTOTRADER_MASTER_KEYS); the app never makes a new key for existing data"
    )
    refused_at_start(install, message)
    refused(cli(install, "migrate"), message)
    refused(cli(install, "disable-2fa", "alice"), message)
    if not install.url:
        refused(cli(install, "backup", str(install.folder / "copy.db")), message)
        assert not (install.folder / "copy.db").exists()
    assert not install.key_file.exists()
    install.key_file.write_text(saved)
    install.key_file.chmod(0o600)
    intact(install, saved)
    still_serves(install)


def test_wrong_key_with_the_same_id_refuses(install):
    saved = install.key_file.read_text()
    install.key_file.write_text(new_key_line("k1") + "\n")
    message = (
        f"Master key 'k1' in the key file {install.key_file} does not open the secrets "
        "sealed with it (it is a different key under the same id): put back the key file "
        "(or AUTOTRADER_MASTER_KEYS) that belongs to this database"
    )
    refused_at_start(install, message)
    assert "k2" not in install.key_file.read_text()  # rotation added no key
    install.key_file.write_text(saved)
    intact(install, saved)
    still_serves(install)


def test_ring_without_the_key_the_data_uses_refuses(install):
    saved = install.key_file.read_text()
    other = new_key_line("k7")
    message = (
        "The database holds secrets sealed with master key 'k1', which is not in "
        "AUTOTRADER_MASTER_KEYS: put back the key file (or AUTOTRADER_MASTER_KEYS) that "
        "belongs to this database"
    )
    run = cli(install, "serve", "--port", str(free_port()), AUTOTRADER_MASTER_KEYS=other)
    refused(run, message)
    refused(cli(install, "rotate-keys", AUTOTRADER_MASTER_KEYS=other), message)
    intact(install, saved)


def test_create_app_refuses_a_missing_key_for_existing_data(install):
    from webapp.app import create_app
    from webapp.config import Settings

    install.key_file.unlink()
    settings = Settings(data_dir=install.data_dir, database_url=install.url)
    with pytest.raises(keyring_check.KeyRingError, match="never makes a new key"):
        create_app(settings)
    assert not install.key_file.exists()


def test_an_empty_database_gets_a_new_private_key(tmp_path):
    install = Install(tmp_path / "var", databases.fresh_url(), "", tmp_path)
    with server(install) as (base, _):
        assert httpx.get(f"{base}/healthz").text == "ok"
    assert install.key_file.stat().st_mode & 0o777 == 0o600
    KeyRing.parse(install.key_file.read_text())


# --- runtime: the key file changes under a running app -----------------------------------


def test_key_file_gone_or_wrong_at_runtime_keeps_the_loaded_keys(install):
    saved = install.key_file.read_text()
    with server(install) as (base, log_path):
        install.key_file.unlink()
        for _ in range(3):
            assert api(base, install.key, "GET", "/api/v1/me").status_code == 200
            assert api(base, install.key, "GET", "/api/v1/trading-accounts").status_code == 200
        health = httpx.get(f"{base}/healthz")
        assert health.status_code == 200
        assert health.text == f"ok; warning: {install.key_file} is missing"
        # A different key under the same id must not be taken up: it would fork the data.
        install.key_file.write_text(new_key_line("k1") + "\n")
        install.key_file.chmod(0o600)
        created = api(base, install.key, "POST", "/api/v1/trading-accounts", account("While gone"))
        assert created.status_code == 201
        health = httpx.get(f"{base}/healthz")
        assert health.text == f"ok; warning: {install.key_file} now holds a different key 'k1'"
        install.key_file.write_text(saved)
        assert httpx.get(f"{base}/healthz").text == "ok"
        log = log_path.read_text()
    assert log.count(f"key file: {install.key_file} is missing") == 1
    assert log.count("now holds a different key 'k1'") == 1
    assert "Traceback" not in log and saved.split(":")[1][:20] not in log
    intact(install, saved, accounts=2)  # the write made meanwhile is under the real key


def _view_key(client: httpx.Client) -> httpx.Response:
    from tests.helpers import csrf_from

    token = csrf_from(client.get("/settings/security").text)
    return client.post(
        "/settings/security/api-key/view",
        data={"step": "verify", "password": PASSWORD},
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )


def test_key_removed_while_data_needs_it_answers_503_and_healthz_says_why(install):
    # Rotation's first step adds k2; someone then deletes k1 before the data moved.
    saved = install.key_file.read_text()
    from tests.helpers import csrf_from

    with server(install) as (base, _), httpx.Client(base_url=base, timeout=30) as client:
        token = csrf_from(client.get("/login").text)
        form = {"csrf_token": token, "username": "alice", "password": PASSWORD}
        assert client.post("/login", data=form).status_code == 303
        assert install.key in _view_key(client).text
        k2 = new_key_line("k2")
        install.key_file.write_text(saved + k2 + "\n")
        assert httpx.get(f"{base}/healthz").text == "ok"
        install.key_file.write_text(k2 + "\n")
        view = _view_key(client)
        assert (view.status_code, view.text) == (503, faults.CANNOT_OPEN)
        health = httpx.get(f"{base}/healthz")
        assert health.status_code == 503
        assert health.text == (
            "not ready: The database holds secrets sealed with master key 'k1', which is "
            "not in the loaded key ring: put back the key file (or AUTOTRADER_MASTER_KEYS) "
            "that belongs to this database"
        )
        install.key_file.write_text(saved + k2 + "\n")
        time.sleep(faults.PROBE_EVERY_SECONDS)
        assert httpx.get(f"{base}/healthz").text == "ok"
        assert install.key in _view_key(client).text
    intact(install, saved + k2)


# --- storage faults ---------------------------------------------------------------------


def wait_until_ready(base: str) -> tuple[int, str]:
    """/healthz re-probes at most once a second: ask until it is ready (30 s at most)."""
    deadline = time.monotonic() + 30
    while True:
        health = httpx.get(f"{base}/healthz")
        if health.status_code == 200 or time.monotonic() > deadline:
            return health.status_code, health.text
        time.sleep(faults.PROBE_EVERY_SECONDS / 4)


def _two_requests_on_one_connection(base: str, first: bytes) -> list[bytes]:
    """Send ``first`` then GET /healthz on one TCP connection; both answers come back."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(first)
        answers = [_read_response(sock)]
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answers.append(_read_response(sock))
    return answers


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        body += chunk
    return head + b"\r\n\r\n" + body


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 16 MB tmpfs, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write zeros until the file system is full; returns the filler file."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 65536)
    return filler


@as_root
@pytest.mark.sqlite_only
def test_full_disk_answers_503_everywhere_and_recovers_when_space_returns(tmp_path, small_disk):
    install = new_install(tmp_path, data_dir=small_disk / "var")
    saved = install.key_file.read_text()
    with server(install) as (base, log_path):
        filler = fill(small_disk)
        # Writes until one hits the full disk (SQLite may reuse WAL pages for a while).
        statuses = []
        for i in range(400):
            body = account(f"Burst {i}")
            statuses.append(api(base, install.key, "POST", "/api/v1/trading-accounts", body))
            if statuses[-1].status_code != 201:
                break
        failed = statuses[-1]
        assert failed.status_code == 503 and failed.headers["retry-after"] == "5"
        assert failed.json() == {"status": "error", "message": CANNOT_SAVE}
        health = httpx.get(f"{base}/healthz")
        assert (health.status_code, health.text) == (503, "not ready: the disk is full")
        # htmx and a full page answer the same, and the connection stays open.
        with httpx.Client(base_url=base) as browser:
            from tests.helpers import csrf_from

            token = csrf_from(browser.get("/register").text)
            form = {"csrf_token": token, "username": "bob", "password": PASSWORD}
            page = browser.post("/register", data=form)
            assert page.status_code == 503 and CANNOT_SAVE in page.text
            assert "content-security-policy" in page.headers
            token = csrf_from(browser.get("/register").text)
            fragment = browser.post(
                "/register",
                data={**form, "csrf_token": token},
                headers={"HX-Request": "true", "X-CSRF-Token": token},
            )
            assert (fragment.status_code, fragment.text) == (503, CANNOT_SAVE)
        body = json.dumps(account("Socket")).encode()
        request = (
            b"POST /api/v1/trading-accounts HTTP/1.1\r\nHost: x\r\n"
            b"api-key: " + install.key.encode() + b"\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        first, second = _two_requests_on_one_connection(base, request)
        assert first.startswith(b"HTTP/1.1 503") and second.startswith(b"HTTP/1.1 503")
        created = sum(1 for r in statuses if r.status_code == 201)
        # Space returns: the app recovers by itself, no restart.
        filler.unlink()
        assert wait_until_ready(base) == (200, "ok")
        again = api(base, install.key, "POST", "/api/v1/trading-accounts", account("After"))
        assert again.status_code == 201
        log = log_path.read_text()
    assert "Traceback" not in log and "INSERT" not in log
    assert "the disk is full: POST /api/v1/trading-accounts answered 503" in log
    intact(install, saved, accounts=1 + created + 1)


@as_root
@pytest.mark.sqlite_only
def test_cli_on_a_full_disk_says_so_and_leaves_nothing_behind(tmp_path, small_disk):
    install = new_install(tmp_path, data_dir=small_disk / "var")
    saved = install.key_file.read_text()
    target_dir = small_disk / "backups"
    target_dir.mkdir()
    with server(install):  # as in production: the app runs beside the commands
        filler = fill(small_disk)
        refused(
            cli(install, "backup", str(target_dir / "copy.db")),
            f"The disk holding {target_dir} is full: free some space or choose another "
            "folder; no backup was written",
        )
        assert list(target_dir.iterdir()) == []
        refused(
            cli(install, "rotate-keys"),
            "the disk is full: free some space, then run rotate-keys again",
        )
        assert [p.name for p in install.data_dir.iterdir() if "tmp" in p.name] == []
        assert install.key_file.read_text() == saved
        filler.unlink()
    intact(install, saved)
    still_serves(install)


@as_root
@pytest.mark.sqlite_only
def test_read_only_database_refuses_to_start_with_a_sentence(install, tmp_path):
    saved = install.key_file.read_text()
    ro = tmp_path / "ro"
    ro.mkdir()
    subprocess.run(["mount", "--bind", str(install.data_dir), str(ro)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], check=True)
        view = Install(ro, "", install.key, tmp_path)
        run = cli(view, "serve", "--port", str(free_port()))
        # SQLite cannot make the WAL index (-shm) beside a read-only database file.
        cannot = (
            "the database file cannot be opened: make sure the database file and its "
            "folder exist and are writable, then run"
        )
        refused(run, f"{cannot} serve again")
        refused(cli(view, "migrate"), f"{cannot} migrate again")
        refused(cli(view, "rotate-keys"), f"{cannot} rotate-keys again")
    finally:
        subprocess.run(["umount", str(ro)], check=False)
    intact(install, saved)


@pytest.mark.postgres  # a read-only PostgreSQL database
def test_read_only_postgres_answers_503_and_recovers(install):
    saved = install.key_file.read_text()
    name = install.url.rsplit("/", 1)[1]

    def psql(sql: str) -> None:
        host, port, user = databases.server()
        command = ["psql", "-h", host, "-p", port, "-U", user, "-d", "postgres", "-c", sql]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def kick() -> None:  # new connections pick up the database's setting
        psql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "  # noqa: S608 (our name)
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )

    with server(install) as (base, log_path):
        psql(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
        kick()
        failed = api(base, install.key, "POST", "/api/v1/trading-accounts", account("Read-only"))
        if failed.status_code != 503:  # the pool's first use after the kick reconnects
            failed = api(
                base, install.key, "POST", "/api/v1/trading-accounts", account("Read-only")
            )
        assert failed.status_code == 503
        assert failed.json() == {"status": "error", "message": CANNOT_SAVE}
        health = httpx.get(f"{base}/healthz")
        assert (health.status_code, health.text) == (503, "not ready: the database is read-only")
        psql(f"ALTER DATABASE {name} SET default_transaction_read_only = off")
        kick()
        assert wait_until_ready(base) == (200, "ok")
        assert (
            api(
                base, install.key, "POST", "/api/v1/trading-accounts", account("Writable")
            ).status_code
            == 201
        )
        log = log_path.read_text()
    assert "Traceback" not in log
    intact(install, saved, accounts=2)


# --- schema -----------------------------------------------------------------------------


def test_newer_schema_says_upgrade_the_app_and_migrate_changes_nothing(install):
    saved = install.key_file.read_text()
    engine_url = install.url or f"sqlite+aiosqlite:///{install.db_file}"

    async def set_version(version: str) -> None:
        engine = make_engine(engine_url)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": version})
        await engine.dispose()

    asyncio.run(set_version("0099"))
    message = (
        "The database schema is at revision 0099, which this version of the app does not "
        "know: this database is newer than this version of the app — upgrade the app (or "
        "restore a backup made with this version)"
    )
    refused(cli(install, "serve", "--port", str(free_port())), message)
    refused(cli(install, "migrate"), message)
    refused(cli(install, "rotate-keys"), message)
    found = asyncio.run(_read_everything(install, KeyRing.parse(saved)))
    assert found["version"] == "0099" and found["accounts"] == 1
    asyncio.run(set_version(HEAD))
    still_serves(install)


# --- CLI failure paths ------------------------------------------------------------------


def test_key_file_readable_by_others_is_one_sentence(install):
    install.key_file.chmod(0o644)
    message = (
        f"{install.key_file} is readable by others (mode 644); run: chmod 600 {install.key_file}"
    )
    for command in (["serve", "--port", str(free_port())], ["rotate-keys"], ["migrate"]):
        refused(cli(install, *command), message)
    install.key_file.chmod(0o600)
    still_serves(install)


@pytest.mark.sqlite_only
def test_backup_failures_are_one_sentence_and_leave_nothing(install, tmp_path):
    saved = install.key_file.read_text()
    missing = tmp_path / "nowhere" / "copy.db"
    refused(
        cli(install, "backup", str(missing)),
        f"The folder {missing.parent} does not exist: create it or choose another",
    )
    folder = tmp_path / "backups"
    folder.mkdir()
    existing = folder / "exists.db"
    existing.write_text("keep me")
    refused(cli(install, "backup", str(existing)), f"{existing} exists; choose a new file name")
    assert existing.read_text() == "keep me"
    # A partial file someone left behind (or planted) is never reused or overwritten.
    planted = folder / "copy.db.partial"
    planted.write_text("planted")
    planted_new = folder / ".copy.db.abc.partial"
    planted_new.write_text("planted")
    run = cli(install, "backup", str(folder / "copy.db"))
    assert run.returncode == 0, run.stderr
    assert planted.read_text() == "planted" and planted_new.read_text() == "planted"
    assert (folder / "copy.db").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["exists.db", "copy.db", "copy.db.partial", ".copy.db.abc.partial"]
    )
    copy = Install(tmp_path / "restored", "", install.key, tmp_path)
    copy.data_dir.mkdir()
    shutil.copy(folder / "copy.db", copy.db_file)
    intact(copy, saved)


@as_root
@pytest.mark.sqlite_only
def test_backup_to_a_read_only_folder_is_one_sentence(install, tmp_path):
    folder = tmp_path / "ro-backups"
    folder.mkdir()
    subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)
        refused(
            cli(install, "backup", str(folder / "copy.db")),
            f"{folder} is on a read-only file system: choose a writable folder; "
            "no backup was written",
        )
        assert list(folder.iterdir()) == []
    finally:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.mark.postgres  # backup of a PostgreSQL database
def test_backup_on_postgres_points_to_pg_dump(install, tmp_path):
    refused(
        cli(install, "backup", str(tmp_path / "copy.db")),
        "backup copies SQLite databases; for PostgreSQL use pg_dump",
    )


def test_unreachable_database_is_one_sentence(tmp_path):
    if databases.on_postgres():
        url = f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/none"
        reason = "the database server cannot be reached"
        advice = "check the database location (--data-dir, AUTOTRADER_DATABASE_URL) and the disk"
    else:
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("a file where the data folder should be")
        url = f"sqlite+aiosqlite:///{blocker}/sub/autotrader.db"
        reason = f"{blocker}/sub: Not a directory"
        advice = "— fix the path or its permissions"
    install = Install(tmp_path / "var", url, "", tmp_path)
    separator = "" if reason.endswith("directory") else ":"
    refused(cli(install, "migrate"), f"{reason}{separator} {advice}, then run migrate again")


# --- errors keep the connection, bursts queue ------------------------------------------


def test_unhandled_error_keeps_the_keep_alive_connection(tmp_path):
    import threading

    import uvicorn
    from starlette.routing import Route

    from webapp.app import create_app
    from webapp.config import Settings

    async def boom(request):
        raise RuntimeError("a bug")

    settings = Settings(
        data_dir=tmp_path / "var",
        master_keys=new_key_line("k1"),
        database_url=databases.fresh_url(),
        cookie_secure=False,
    )
    app = create_app(settings, extra_routes=[Route("/boom", boom)])
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not uv.started and time.monotonic() < deadline:
            time.sleep(0.05)
        first, second = _two_requests_on_one_connection(
            f"http://127.0.0.1:{port}", b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        assert first.startswith(b"HTTP/1.1 500") and b"content-security-policy" in first.lower()
        assert second.startswith(b"HTTP/1.1 200") and second.endswith(b"ok")
    finally:
        uv.should_exit = True
        thread.join(timeout=20)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_write_burst_queues_instead_of_failing(tmp_path, workers):
    install = new_install(tmp_path)
    saved = install.key_file.read_text()
    # The burst is about the write lock, not the per-key rate limit: lift the limit.
    unlimited = {"AUTOTRADER_API_RATE_PER_SECOND": "100000", "AUTOTRADER_API_BURST": "100000"}
    with server(install, workers=workers, **unlimited) as (base, log_path):

        def writes(i: int) -> list[int]:
            with httpx.Client(base_url=base, headers={"api-key": install.key}, timeout=60) as c:
                made = c.post("/api/v1/trading-accounts", json=account(f"Burst {i}"))
                out = [made.status_code]
                if made.status_code == 201:
                    path = f"/api/v1/trading-accounts/{made.json()['result']['id']}"
                    out.append(c.patch(path, json={"pseudoAccName": f"Edited {i}"}).status_code)
                    out.append(c.delete(path).status_code)
                return out

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(24) as pool:
            statuses = [s for r in pool.map(writes, range(48)) for s in r]
        log = log_path.read_text()
    assert statuses.count(201) == 48 and statuses.count(200) + statuses.count(204) == 96
    assert "database is locked" not in log and "Traceback" not in log
    intact(install, saved)


def test_storage_fault_classification_covers_the_drivers():
    import errno
    import sqlite3

    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13
    assert faults.storage_fault(full) == "the disk is full"
    assert faults.storage_fault(OSError(errno.ENOSPC, "No space left")) == "the disk is full"
    assert faults.storage_fault(ConnectionRefusedError()) == "the database server cannot be reached"
    assert faults.storage_fault(RuntimeError("a bug")) is None
    assert faults.storage_fault(FileNotFoundError(errno.ENOENT, "gone")) is None


@pytest.mark.sqlite_only
def test_database_wal_shm_and_backup_are_private_whatever_the_folder_mode(tmp_path):
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    data_dir.chmod(0o777)
    old = os.umask(0)
    try:
        install = new_install(tmp_path, data_dir=data_dir)
        with server(install) as (base, _):
            assert api(base, install.key, "GET", "/api/v1/me").status_code == 200
            names = ["autotrader.db", "autotrader.db-wal", "autotrader.db-shm", "master.key"]
            modes = {n: (data_dir / n).stat().st_mode & 0o777 for n in names}
            assert cli(install, "backup", str(tmp_path / "copy.db")).returncode == 0
    finally:
        os.umask(old)
    assert modes == dict.fromkeys(names, 0o600)
    assert (tmp_path / "copy.db").stat().st_mode & 0o777 == 0o600
