"""Locks under concurrency: 50 attempts at once, on two live worker processes.

Each attempt reserves its place in the failure count before the expensive check, so
however many arrive together, at most the threshold's number of passwords (or codes)
are verified; the verifications are counted from the security events the app wrote.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
import time

import httpx
import pytest

from tests import databases
from tests.live_server import LiveTrader, register_and_get_key, running_server
from webapp import totp
from webapp.security import throttle

PASSWORD = "correct horse battery staple"
BURST = 50


@pytest.fixture
def workers(tmp_path):
    """Two servers on one data directory and database."""
    data_dir = tmp_path / "shared"
    url = databases.fresh_url()
    shared = {"data_dir": data_dir, "database_url": url, "AUTOTRADER_COOKIE_SECURE": "false"}
    # A first lock longer than any burst here: with the default 1 s, a burst slowed by a
    # busy machine could outlast the lock and rightly get one more check after it.
    shared["AUTOTRADER_PASSWORD_LOCK_SECONDS"] = "60"
    with running_server(tmp_path, **shared) as a, running_server(tmp_path, **shared) as b:
        yield a, b, data_dir, url


def count_events(data_dir, url: str, kind: str) -> int:
    """How many security events of ``kind`` the database holds."""
    sql = "SELECT count(*) FROM security_events WHERE kind = :kind"
    if not url:
        with sqlite3.connect(data_dir / "autotrader.db") as conn:
            return conn.execute(sql.replace(":kind", "?"), (kind,)).fetchone()[0]
    from sqlalchemy import text

    from webapp.db import make_engine

    async def run() -> int:
        engine = make_engine(url)
        async with engine.connect() as conn:
            value = (await conn.execute(text(sql), {"kind": kind})).scalar_one()
        await engine.dispose()
        return int(value)

    return asyncio.run(run())


def burst(calls) -> list[int]:
    """Run the calls in threads released together; their status codes."""
    gate = threading.Barrier(len(calls))
    results: list[int] = [0] * len(calls)

    def run(i: int) -> None:
        gate.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_fifty_concurrent_wrong_passwords_check_at_most_five(workers):
    a, b, data_dir, url = workers
    register_and_get_key(a, "alice", PASSWORD)
    traders = []
    for i in range(BURST):
        t = LiveTrader(httpx.Client(timeout=60), "alice", PASSWORD)
        t.page(f"{(a, b)[i % 2]}/login")
        traders.append(t)

    def attempt(i: int):
        base = (a, b)[i % 2]
        return lambda: (
            traders[i]
            .form(f"{base}/login", {"username": "alice", "password": f"wrong password {i}"})
            .status_code
        )

    try:
        statuses = burst([attempt(i) for i in range(BURST)])
        checked = count_events(data_dir, url, "signin_failed")
        assert checked <= throttle.PASSWORD.threshold, (checked, statuses)
        assert statuses.count(422) + statuses.count(429) == BURST, statuses
        assert statuses.count(429) >= BURST - throttle.PASSWORD.threshold
        # The right password during the lock is refused, in either worker.
        assert traders[0].login(a).status_code == 429
        assert traders[1].login(b).status_code == 429
    finally:
        for t in traders:
            t.client.close()


def test_fifty_concurrent_wrong_codes_check_at_most_five(workers):
    a, b, data_dir, url = workers
    register_and_get_key(a, "bob", PASSWORD)
    owner = LiveTrader(httpx.Client(timeout=60), "bob", PASSWORD)
    assert owner.login(a).status_code == 303
    owner.page(f"{a}/settings/security")
    secret = _secret(owner.hx(f"{a}/settings/security/2fa/setup").text)
    confirmed = owner.hx(
        f"{a}/settings/security/2fa/confirm",
        {"code": totp.code_at(secret, time.time()), "password": PASSWORD},
    )
    assert confirmed.status_code == 200, confirmed.text
    recovery = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", confirmed.text)
    owner.page(f"{a}/settings/security")
    on = owner.hx(
        f"{a}/settings/security/2fa/login-on",
        {"step": "verify", "password": PASSWORD, "code": recovery.pop()},
    )
    assert on.status_code == 200, on.text
    traders = []
    try:
        for i in range(BURST):
            t = LiveTrader(httpx.Client(timeout=60), "bob", PASSWORD)
            base = (a, b)[i % 2]
            signed = t.login(base)  # the password passes: the code step is next
            assert signed.headers.get("location") == "/login/code", signed.status_code
            t.page(f"{base}/login/code")
            traders.append(t)
        near = {totp.code_at(secret, time.time() + 30 * k) for k in range(-2, 3)}
        wrong = next(c for c in ("000000", "111111", "222222") if c not in near)

        def attempt(i: int):
            base = (a, b)[i % 2]
            return lambda: traders[i].form(f"{base}/login/code", {"code": wrong}).status_code

        statuses = burst([attempt(i) for i in range(BURST)])
        checked = count_events(data_dir, url, "code_failed")
        assert checked <= throttle.CODE.threshold, (checked, statuses)
        assert statuses.count(429) >= BURST - throttle.CODE.threshold, statuses
        right = traders[0].form(f"{a}/login/code", {"code": recovery.pop()})
        assert right.status_code == 429  # an unused recovery code during the lock: refused
    finally:
        owner.client.close()
        for t in traders:
            t.client.close()


def _secret(html: str) -> str:
    found = re.search(r'id="totp-secret">([A-Z2-7 ]+)</code>', html)
    assert found, html[:500]
    return found.group(1).replace(" ", "")
