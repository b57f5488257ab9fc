"""No acknowledged write is ever undone: key rotation and concurrent edits beside a live
server (real `python -m webapp serve` processes, SQLite or PostgreSQL).

Every check reads the database afterwards with the key file's ring: the last key each
trader was given is the one stored, decryptable, and its digest and hint belong to the
same key; every credential change answered 200 is present.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from tests import bulk, databases
from tests.live_server import ROOT, LiveTrader, register_and_get_key, running_server
from webapp import apikey
from webapp.db import make_engine
from webapp.rotation_lock import BUSY_MESSAGE
from webapp.vault import KeySource, aad

PASSWORD = "correct horse battery staple"
KEY = re.compile(r"at_[0-9A-Za-z]{49}")
# Writers pause this long between requests: a steady load a single SQLite file serves
# without "database is locked" (nine clients in tight loops exceed its busy timeout
# with or without a rotation).
PACE = 0.05
FIELDS = ("password", "pin", "totpKey", "apiKey", "apiSecret")
ACCOUNT = {
    "broker": "upstox",
    "platform": "Upstox API",
    "pseudoAccName": "Main",
    "loginId": "AB1234",
    "password": "pw-0",
    "pin": "100000",
    "totpKey": "KRSXG5CTMVRXEZLUKN2XAZLSKNSWG4TF",
    "apiKey": "key-0",
    "apiSecret": "secret-0",
}


@dataclass
class Live:
    """A running server, its data directory and database."""

    base: str
    data_dir: Path
    url: str  # "" on SQLite: the data directory's file

    @property
    def db_url(self) -> str:
        return self.url or bulk.sqlite_url(self.data_dir)


@pytest.fixture
def live_factory(tmp_path):
    """Start a server, after bulk-filling its database with ``filler`` users."""

    def start(stack, filler: int = 0) -> Live:
        data_dir = tmp_path / "var"
        data_dir.mkdir(mode=0o700)
        url = databases.fresh_url()
        live = Live("", data_dir, url)
        if filler:
            if not url:
                databases.upgrade(live.db_url)
            bulk.fill(live.db_url, data_dir, filler)
        env = {"AUTOTRADER_COOKIE_SECURE": "false"}
        # Concurrent writes with one key, not the per-key rate limit, are under test here.
        env |= {"AUTOTRADER_API_RATE_PER_SECOND": "100000", "AUTOTRADER_API_BURST": "100000"}
        live.base = stack.enter_context(
            running_server(tmp_path, data_dir=data_dir, database_url=url, **env)
        )
        return live

    return start


def rotate_cli(live: Live, *args: str) -> subprocess.CompletedProcess:
    """``python -m webapp rotate-keys ARGS`` on the live server's data (key-file mode)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUTOTRADER_DATABASE_URL": live.url}
    env.pop("AUTOTRADER_MASTER_KEYS", None)
    command = [sys.executable, "-m", "webapp", "rotate-keys", *args]
    return subprocess.run(
        [*command, "--data-dir", str(live.data_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def value_for(name: str, i: int) -> str:
    """A valid new value for credential field ``name`` (round ``i``)."""
    if name == "totpKey":
        return base64.b32encode(secrets.token_bytes(20)).decode()
    if name == "pin":
        return str(100000 + i)
    return f"{name}-{i}-{secrets.token_hex(4)}"


def fetch_rows(live: Live, sql: str, **params: object) -> list:
    """Rows of one query on the live server's database."""

    async def run() -> list:
        engine = make_engine(live.db_url)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(text(sql), params)).all())
        finally:
            await engine.dispose()

    return asyncio.run(run())


@dataclass
class Load:
    """Threads writing through the live server until stopped; what the server acked."""

    stop: threading.Event = field(default_factory=threading.Event)
    statuses: Counter = field(default_factory=Counter)
    keys: dict[str, list[str]] = field(default_factory=dict)  # username -> acked keys
    fields: dict[str, str] = field(default_factory=dict)  # field -> last acked value
    threads: list[threading.Thread] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def run(self, target, *args) -> None:
        def guarded() -> None:
            try:
                target(*args)
            except Exception as exc:  # a crashed load thread must fail the test, not hide
                self.errors.append(repr(exc))

        self.threads.append(threading.Thread(target=guarded, daemon=True))
        self.threads[-1].start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)
        assert not self.errors, self.errors


def regenerate_loop(
    load: Load, base: str, username: str, pace: float = PACE, password: str = PASSWORD
) -> None:
    """Re-generate the user's key again and again, recording every key the server gave."""
    acked = load.keys.setdefault(username, [])
    with httpx.Client(timeout=60) as client:
        trader = LiveTrader(client, username, password)
        trader.login(base)
        trader.page(f"{base}/settings/security")
        while not load.stop.is_set():
            shown = trader.hx(
                f"{base}/settings/security/api-key/regenerate",
                {"step": "verify", "confirm": "yes", "password": password},
            )
            load.statuses[shown.status_code] += 1
            found = KEY.search(shown.text)
            if shown.status_code == 200 and found:
                acked.append(found.group(0))
            time.sleep(pace)


def patch_loop(load: Load, base: str, key: str, account_id: int, name: str) -> None:
    """Change one credential field of the account again and again through the API."""
    with httpx.Client(timeout=60) as client:
        i = 0
        while not load.stop.is_set():
            value = value_for(name, i)
            answer = client.patch(
                f"{base}/api/v1/trading-accounts/{account_id}",
                headers={"api-key": key},
                json={name: value},
            )
            load.statuses[answer.status_code] += 1
            if answer.status_code == 200:
                load.fields[name] = value
            i += 1
            time.sleep(PACE)


def new_account(base: str, key: str) -> int:
    made = httpx.post(f"{base}/api/v1/trading-accounts", headers={"api-key": key}, json=ACCOUNT)
    assert made.status_code == 201, made.text
    return made.json()["result"]["id"]


def lost_writes(live: Live, load: Load, account_id: int | None) -> list[str]:
    """Every acknowledged write that is not what the database now holds."""
    ring = KeySource("", live.data_dir).ring()
    lost: list[str] = []
    ids = dict(fetch_rows(live, "SELECT username, id FROM users"))
    for username, acked in load.keys.items():
        if not acked:
            continue
        uid = ids[username]
        (secret, digest, hint) = fetch_rows(
            live, "SELECT secret, digest, hint FROM api_keys WHERE user_id = :u", u=uid
        )[0]
        stored = ring.decrypt_text(secret, aad("api_keys", uid, "secret"))
        if stored != acked[-1]:
            lost.append(f"{username}: the key given last was replaced by an older one")
        same_key = ring.key_id_of(secret) == ring.active_id
        if not same_key or digest != ring.digest(apikey.LOOKUP_PURPOSE, stored):
            lost.append(f"{username}: digest and ciphertext from different keys")
        if hint != apikey.hint(stored):
            lost.append(f"{username}: the hint belongs to another key")
        me = httpx.get(f"{live.base}/api/v1/me", headers={"api-key": acked[-1]})
        if me.status_code != 200:
            lost.append(f"{username}: the key given last answers {me.status_code}")
        for older in acked[-3:-1]:
            if httpx.get(f"{live.base}/api/v1/me", headers={"api-key": older}).status_code != 401:
                lost.append(f"{username}: a replaced key works again")
    if account_id is not None:
        (uid, sealed) = fetch_rows(
            live, "SELECT user_id, credentials FROM trading_accounts WHERE id = :a", a=account_id
        )[0]
        creds = json.loads(
            ring.decrypt_text(sealed, aad("trading_accounts", f"{uid}/{account_id}", "credentials"))
        )
        lost += [f"field {k} lost its last change" for k, v in load.fields.items() if creds[k] != v]
    return lost


def test_rotation_beside_regenerations_and_edits_loses_nothing(live_factory, tmp_path):
    with contextlib.ExitStack() as stack:
        live = live_factory(stack, filler=3000)  # enough rows for a rotation to take a while
        regenerators = [f"regen{i}" for i in range(4)]
        for name in regenerators:
            register_and_get_key(live.base, name, PASSWORD)
        slow = [f"bulk{uid:06d}" for uid in range(100, 3000, 250)]  # 12 of the filler users
        owner_key = register_and_get_key(live.base, "editor", PASSWORD)
        account_id = new_account(live.base, owner_key)
        lost, statuses, acked, last_key = [], Counter(), 0, {}
        for round_no in range(3):
            # The writers stop as soon as the rotation returns and the database is
            # checked then. Bulk users re-generate slowly, so a key the rotation undid
            # is rarely replaced by the same user's next one before the check.
            load = Load()
            for name in regenerators:
                load.run(regenerate_loop, load, live.base, name)
            for name in slow:
                load.run(regenerate_loop, load, live.base, name, 0.5, bulk.PASSWORD)
            for name in FIELDS:
                load.run(patch_loop, load, live.base, owner_key, account_id, name)
            done = rotate_cli(live)
            load.finish()
            assert done.returncode == 0, done.stderr
            statuses += load.statuses
            acked += sum(len(k) for k in load.keys.values()) + len(load.fields)
            last_key |= {name: keys[-1] for name, keys in load.keys.items() if keys}
            lost += [f"rotation {round_no}: {m}" for m in lost_writes(live, load, account_id)]
        assert acked > 0
        assert not [s for s in statuses if s >= 500], statuses
        assert lost == []
        # Whatever the rotations met, the View of each key shows the key that works.
        with httpx.Client(timeout=60) as client:
            trader = LiveTrader(client, regenerators[0], PASSWORD)
            trader.login(live.base)
            trader.page(f"{live.base}/settings/security")
            view = trader.hx(
                f"{live.base}/settings/security/api-key/view",
                {"step": "verify", "password": PASSWORD},
            )
            assert KEY.search(view.text).group(0) == last_key[regenerators[0]]


def run_together(threads: list[threading.Thread]) -> None:
    """Start every thread, then wait for each (two minutes at most)."""
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)


def test_five_concurrent_patches_of_different_fields_all_survive(live_factory):
    with contextlib.ExitStack() as stack:
        live = live_factory(stack)
        key = register_and_get_key(live.base, "patcher", PASSWORD)
        account_id = new_account(live.base, key)
        load, lost = Load(), []
        for round_no in range(20):
            barrier = threading.Barrier(len(FIELDS))
            values = {name: value_for(name, round_no) for name in FIELDS}

            def one(name: str, barrier=barrier, values=values) -> None:
                with httpx.Client(timeout=60) as client:
                    barrier.wait()
                    answer = client.patch(
                        f"{live.base}/api/v1/trading-accounts/{account_id}",
                        headers={"api-key": key},
                        json={name: values[name]},
                    )
                load.statuses[answer.status_code] += 1
                if answer.status_code == 200:
                    load.fields[name] = values[name]

            run_together([threading.Thread(target=one, args=(name,)) for name in FIELDS])
            lost += [f"round {round_no}: {m}" for m in lost_writes(live, load, account_id)]
        assert load.statuses == Counter({200: 100}), load.statuses
        assert lost == [], f"{len(lost)} of 100 field changes lost: {lost[:5]}"


def test_concurrent_edit_forms_of_different_fields_all_survive(live_factory):
    with contextlib.ExitStack() as stack:
        live = live_factory(stack)
        key = register_and_get_key(live.base, "former", PASSWORD)
        account_id = new_account(live.base, key)
        clients = [stack.enter_context(httpx.Client(timeout=60)) for _ in FIELDS]
        traders = [LiveTrader(c, "former", PASSWORD) for c in clients]
        for trader in traders:  # one signed-in, stepped-up browser per field
            assert trader.login(live.base).status_code == 303
            trader.page(f"{live.base}/trading-accounts")
            shown = trader.hx(
                f"{live.base}/trading-accounts/{account_id}/view",
                {"step": "verify", "password": PASSWORD},
            )
            assert ACCOUNT["apiSecret"] in shown.text  # the step-up window is open
        load, lost = Load(), []
        for round_no in range(6):
            barrier = threading.Barrier(len(FIELDS))
            values = {name: value_for(name, round_no) for name in FIELDS}

            def one(trader: LiveTrader, name: str, barrier=barrier, values=values) -> None:
                form = {k: "" for k in ("broker", "platform", "pseudoAccName", "loginId")}
                # Within the step-up window: no "step" (the form's own "password" field
                # is the broker password, not the sign-in one).
                form |= {k: "" for k in FIELDS} | {name: values[name]}
                barrier.wait()
                answer = trader.hx(f"{live.base}/trading-accounts/{account_id}", form)
                load.statuses[answer.status_code] += 1
                if answer.status_code == 200 and "Saved." in answer.text:
                    load.fields[name] = values[name]

            pairs = zip(traders, FIELDS, strict=True)
            run_together([threading.Thread(target=one, args=pair) for pair in pairs])
            lost += [f"round {round_no}: {m}" for m in lost_writes(live, load, account_id)]
        assert load.statuses == Counter({200: 30}), load.statuses
        assert lost == [], f"{len(lost)} of 30 field changes lost: {lost[:5]}"


def all_under_active_key(live: Live) -> list[str]:
    """Sealed values (of the tables rotation moves) not under the key file's active key."""
    ring = KeySource("", live.data_dir).ring()
    found = []
    for query in (
        "SELECT totp_secret FROM users WHERE totp_secret IS NOT NULL",
        "SELECT secret FROM api_keys",
        "SELECT credentials FROM trading_accounts",
    ):
        for (value,) in fetch_rows(live, query):
            if ring.key_id_of(value) != ring.active_id:
                found.append(query)
    return found


def test_rotation_of_30000_accounts_beside_a_write_load_answers_no_5xx(live_factory):
    with contextlib.ExitStack() as stack:
        live = live_factory(stack, filler=30_000)
        for name in ("big0", "big1"):
            register_and_get_key(live.base, name, PASSWORD)
        owner_key = register_and_get_key(live.base, "bigeditor", PASSWORD)
        account_id = new_account(live.base, owner_key)
        load = Load()
        for name in ("big0", "big1"):
            load.run(regenerate_loop, load, live.base, name)
        for name in FIELDS[:3]:
            load.run(patch_loop, load, live.base, owner_key, account_id, name)
        rotated = rotate_cli(live)
        removed = rotate_cli(live, "--remove-old")
        load.finish()
        assert rotated.returncode == 0, rotated.stderr
        assert "re-encrypted 30000 users.totp_secret" in rotated.stdout
        assert removed.returncode == 0 and "Removed k1" in removed.stdout, removed.stderr
        assert sum(load.statuses.values()) > 0
        assert not [s for s in load.statuses if s >= 500], load.statuses
        assert lost_writes(live, load, account_id) == []
        assert all_under_active_key(live) == []


def test_two_rotations_at_once(live_factory):
    with contextlib.ExitStack() as stack:
        live = live_factory(stack, filler=3000)
        key = register_and_get_key(live.base, "twice", PASSWORD)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "AUTOTRADER_DATABASE_URL": live.url}
        env.pop("AUTOTRADER_MASTER_KEYS", None)
        command = [sys.executable, "-m", "webapp", "rotate-keys", "--data-dir", str(live.data_dir)]
        for _ in range(3):
            pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
            runs = [subprocess.Popen(command, cwd=ROOT, env=env, **pipes) for _ in range(2)]
            results = [(run.wait(timeout=900), *run.communicate()) for run in runs]
            for code, out, err in results:
                # Each rotated, or refused in one sentence while the other held the lock.
                assert (code, err) in {(0, ""), (2, f"error: {BUSY_MESSAGE}\n")}, (code, out, err)
            assert any(code == 0 for code, _, _ in results)
        leftovers = sorted(p.name for p in live.data_dir.iterdir() if p.name.endswith(".tmp"))
        assert leftovers == []
        assert all_under_active_key(live) == []
        assert httpx.get(f"{live.base}/api/v1/me", headers={"api-key": key}).status_code == 200
