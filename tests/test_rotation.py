"""rotate-keys as an operator meets it: --remove-old, one run at a time, unambiguous key
rings and key-file writes that never share or leave a temporary file."""

import os
import sqlite3
import subprocess
import sys
from dataclasses import replace

import pytest
from sqlalchemy import event, text

from tests import databases
from tests.helpers import CREDS, PASSWORD, add, crash_on_row, enrol
from tests.live_server import ROOT
from webapp import apikey
from webapp.config import Settings
from webapp.rotation import rotate
from webapp.rotation_lock import BUSY_MESSAGE, rotation_lock
from webapp.sealed_columns import ALL
from webapp.vault import KEY_FILE_NAME, KeyRing, KeySource, aad, new_key_line


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    """Key-file mode (no AUTOTRADER_MASTER_KEYS), as rotation works on the file."""
    return Settings(data_dir=tmp_path / "var", database_url=database_url)


def key_ids(settings: Settings) -> list[str]:
    return KeySource("", settings.data_dir).ring().key_ids


def cli(settings: Settings, *args: str, **env_extra: str) -> subprocess.CompletedProcess:
    """``python -m webapp ARGS --data-dir …`` on this test's database."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUTOTRADER_DATABASE_URL": settings.database_url}
    env.pop("AUTOTRADER_MASTER_KEYS", None)
    return subprocess.run(
        [sys.executable, "-m", "webapp", *args, "--data-dir", str(settings.data_dir)],
        cwd=ROOT,
        env={**env, **env_extra},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def sealed_values(app) -> list[str]:
    """Every value of every registered column."""
    values = []
    async with app.state.ctx.engine.connect() as conn:
        for sealed in ALL:
            query = text(f"SELECT {sealed.column} FROM {sealed.table}")  # noqa: S608 (registry)
            values += [v for (v,) in (await conn.execute(query)).all() if v]
    return values


async def write_old_values(trader, clock, account_id: int) -> None:
    """Overwrite sealed values a few times: the old ones linger in freed space."""
    for _ in range(3):
        await trader.hx(
            "POST",
            "/settings/security/api-key/regenerate",
            {"step": "verify", "confirm": "yes", "password": PASSWORD},
        )
        await trader.hx(
            "POST",
            f"/trading-accounts/{account_id}",
            {"step": "verify", "password": PASSWORD, **{k: "" for k in CREDS}, "pin": "135790"},
        )


def raw_bytes(settings: Settings) -> bytes:
    base = settings.data_dir / "autotrader.db"
    return b"".join(
        p.read_bytes() for p in (base, base.with_name(base.name + "-wal")) if p.exists()
    )


def insecure_delete(dbapi_connection: object, _record: object) -> None:
    """SQLite as most builds ship it: freed space keeps its old bytes (Debian's build
    zeroes it by default, which would hide what --remove-old must clean up)."""
    dbapi_connection.execute("PRAGMA secure_delete=OFF")  # type: ignore[attr-defined]


@pytest.mark.sqlite_only
async def test_remove_old_leaves_no_old_ciphertext_in_the_file_or_wal(app, trader, clock, settings):
    event.listen(app.state.ctx.engine.sync_engine, "connect", insecure_delete)
    await app.state.ctx.engine.dispose()  # the app's next connections keep freed bytes
    await enrol(trader, clock)
    account_id = await add(trader)
    await write_old_values(trader, clock, account_id)
    # Deleted rows: whole pages of their ciphertexts go to the free list, which no
    # later UPDATE touches.
    gone = [await add(trader, pseudoAccName=f"Gone{n}", apiSecret="x" * 200) for n in range(40)]
    for number in gone:
        deleted = await trader.hx("POST", f"/trading-accounts/{number}/delete", {"confirm": "yes"})
        assert deleted.status_code == 200
    assert b"v1.k1." in raw_bytes(settings)  # overwritten values are still in the bytes
    first = await rotate(settings)
    assert first.added_key and key_ids(settings) == ["k1", "k2"]
    await write_old_values(trader, clock, account_id)  # under k2 now; k1 leftovers remain
    removed = await rotate(settings, remove_unused=True)
    assert not removed.added_key and removed.removed_keys == {"k1"}
    assert key_ids(settings) == ["k2"]
    assert "VACUUM" in removed.scrubbed
    stored = raw_bytes(settings)
    assert b"v1.k1." not in stored
    assert all(v.startswith("v1.k2.") for v in await sealed_values(app))
    again = await rotate(settings, remove_unused=True)  # adds no key, moves nothing
    assert not again.added_key and not again.counts and key_ids(settings) == ["k2"]
    assert (await trader.reveal_key()).startswith("at_")


async def test_remove_old_adds_no_key_and_leaves_no_row_under_the_old_one(
    app, trader, clock, settings
):
    await enrol(trader, clock)
    await add(trader)
    await rotate(settings)
    removed = await rotate(settings, remove_unused=True)
    assert not removed.added_key and key_ids(settings) == ["k2"]
    assert removed.removed_keys == {"k1"} and removed.scrubbed
    assert all(v.startswith("v1.k2.") for v in await sealed_values(app))
    assert "Removed k1 from the key file." in removed.summary()


async def test_remove_old_finishes_an_unfinished_rotation_first(app, trader, clock, settings):
    await add(trader)
    with pytest.raises(RuntimeError):
        await rotate(settings, on_row=crash_on_row(2))
    assert key_ids(settings) == ["k1", "k2"]
    removed = await rotate(settings, remove_unused=True)
    assert removed.counts and removed.removed_keys == {"k1"} and key_ids(settings) == ["k2"]
    assert all(v.startswith("v1.k2.") for v in await sealed_values(app))


async def test_a_second_rotation_is_refused_while_one_runs(app, trader, settings, tmp_path):
    before = (settings.data_dir / KEY_FILE_NAME).read_text()
    async with rotation_lock(settings.data_dir, app.state.ctx.engine):
        refused = cli(settings, "rotate-keys")
        assert refused.returncode == 2
        assert refused.stderr == f"error: {BUSY_MESSAGE}\n" and refused.stdout == ""
        if databases.on_postgres():
            # Another machine (another data directory) on the same database: the
            # advisory lock refuses it too.
            elsewhere = replace(settings, data_dir=tmp_path / "elsewhere")
            elsewhere.data_dir.mkdir(mode=0o700)  # its own folder, with the same keys
            copy = elsewhere.data_dir / KEY_FILE_NAME
            copy.write_text(before)
            copy.chmod(0o600)
            assert cli(elsewhere, "rotate-keys").stderr == f"error: {BUSY_MESSAGE}\n"
    assert (settings.data_dir / KEY_FILE_NAME).read_text() == before
    done = cli(settings, "rotate-keys")
    assert done.returncode == 0 and "Active key: k2 (new)" in done.stdout, done.stderr


def test_a_duplicate_key_id_is_refused():
    one, two = new_key_line("k1"), new_key_line("k1")
    with pytest.raises(ValueError, match="'k1' appears twice"):
        KeyRing.parse(f"{one},{new_key_line('k2')},{two}")


def test_serve_refuses_a_duplicate_key_id_in_one_sentence(tmp_path, database_url):
    settings = Settings(data_dir=tmp_path / "var", database_url=database_url)
    keys = f"{new_key_line('k1')},{new_key_line('k1')}"
    run = cli(settings, "serve", "--port", "1", AUTOTRADER_MASTER_KEYS=keys)
    assert run.returncode == 2
    last = run.stderr.splitlines()[-1]  # after the schema set-up's log lines, if any
    assert last == "error: master key id 'k1' appears twice; give each key its own id"
    assert "Traceback" not in run.stderr


def test_a_duplicate_key_id_in_the_key_file_is_refused(tmp_path):
    folder = tmp_path / "var"
    KeySource("", folder, create=True)  # makes the key file
    path = folder / KEY_FILE_NAME
    path.write_text(path.read_text() + new_key_line("k1") + "\n")
    with pytest.raises(ValueError, match="'k1' appears twice"):
        KeySource("", folder)


def test_key_file_writes_never_use_a_fixed_temp_name(tmp_path, monkeypatch):
    folder = tmp_path / "var"
    source = KeySource("", folder, create=True)
    # A leftover (or planted) file with the old fixed name is neither used nor touched.
    planted = folder / f"{KEY_FILE_NAME}.tmp"
    planted.write_text("leftover")
    assert source.append_key() == "k2"
    assert planted.read_text() == "leftover"
    assert sorted(p.name for p in folder.iterdir()) == [KEY_FILE_NAME, planted.name]
    # A write that fails before the rename leaves the key file as it was, and no temp file.
    before = (folder / KEY_FILE_NAME).read_text()

    def disk_full(*_args: object) -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="no space"):
        source.append_key()
    monkeypatch.undo()
    assert (folder / KEY_FILE_NAME).read_text() == before
    assert sorted(p.name for p in folder.iterdir()) == [KEY_FILE_NAME, planted.name]


@pytest.mark.sqlite_only
async def test_a_key_regenerated_between_rotations_read_and_write_is_kept(
    app, client, trader, settings
):
    old_key = await trader.reveal_key()
    regenerated = apikey.generate()
    calls = 0

    def regenerate_meanwhile() -> None:
        """The app's re-generation, committed after rotation read the row, before it writes."""
        nonlocal calls
        calls += 1
        if calls > 1:
            return
        ring = KeySource("", settings.data_dir).ring()  # the app's ring: k2 is active
        with sqlite3.connect(settings.data_dir / "autotrader.db") as db:
            db.execute(
                "UPDATE api_keys SET secret = ?, digest = ?, hint = ? WHERE user_id = 1",
                (
                    ring.encrypt(regenerated, aad("api_keys", 1, "secret")),
                    ring.digest(apikey.LOOKUP_PURPOSE, regenerated),
                    apikey.hint(regenerated),
                ),
            )

    report = await rotate(settings, on_row=regenerate_meanwhile)
    assert calls >= 1 and "api_keys.secret" not in report.counts  # the row was left alone
    assert (await client.get("/api/v1/me", headers={"api-key": regenerated})).status_code == 200
    assert (await client.get("/api/v1/me", headers={"api-key": old_key})).status_code == 401
    assert await trader.reveal_key() == regenerated
