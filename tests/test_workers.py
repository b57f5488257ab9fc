"""Two app processes on one database: every lock, replay check and sign-out holds in both.

Each worker is a real `python -m webapp serve` process; they share the data directory
(the key file) and the database (the SQLite file, or the PostgreSQL run's database).
"""

import re
import time

import httpx
import pytest

from tests import databases
from tests.live_server import LiveTrader, register_and_get_key, running_server
from webapp import totp

PASSWORD = "correct horse battery staple"


@pytest.fixture
def workers(tmp_path):
    """Two servers, started one after the other (the first creates keys and schema)."""
    data_dir = tmp_path / "shared"
    url = databases.fresh_url()
    env = {"AUTOTRADER_COOKIE_SECURE": "false"}
    shared = {"data_dir": data_dir, "database_url": url, **env}
    with running_server(tmp_path, **shared) as a, running_server(tmp_path, **shared) as b:
        yield a, b


@pytest.fixture
def trader():
    """Make traders, each with its own HTTP client (closed after the test)."""
    clients: list[httpx.Client] = []

    def make(username: str) -> LiveTrader:
        clients.append(httpx.Client(timeout=30))
        return LiveTrader(clients[-1], username, PASSWORD)

    yield make
    for client in clients:
        client.close()


def test_sign_in_throttle_holds_across_workers(workers, trader):
    a, b = workers
    register_and_get_key(a, "alice", PASSWORD)
    t = trader("alice")
    statuses = [t.login(a, "wrong password!").status_code for _ in range(3)]
    statuses += [t.login(b, "wrong password!").status_code for _ in range(2)]
    assert statuses == [422, 422, 422, 422, 429]
    assert t.login(a).status_code == 429  # the right password, locked in the other worker


def test_regenerated_key_dies_at_once_in_the_other_worker(workers, trader):
    a, b = workers
    old = register_and_get_key(a, "bob", PASSWORD)
    assert httpx.get(f"{b}/api/v1/me", headers={"api-key": old}).status_code == 200
    t = trader("bob")
    assert t.login(a).status_code == 303
    t.page(f"{a}/settings/security")
    shown = t.hx(
        f"{a}/settings/security/api-key/regenerate",
        {"step": "verify", "confirm": "yes", "password": PASSWORD},
    )
    new = re.search(r"at_[0-9A-Za-z]{49}", shown.text).group(0)
    assert httpx.get(f"{b}/api/v1/me", headers={"api-key": old}).status_code == 401
    assert httpx.get(f"{b}/api/v1/me", headers={"api-key": new}).status_code == 200


def test_sign_out_in_one_worker_ends_the_session_in_the_other(workers, trader):
    a, b = workers
    register_and_get_key(a, "carol", PASSWORD)
    t = trader("carol")
    t.login(a)
    assert t.client.get(f"{b}/settings/security").status_code == 200  # same cookie, worker B
    t.page(f"{a}/settings/security")
    t.form(f"{a}/logout", {})
    assert t.client.get(f"{b}/settings/security").headers["location"] == "/login"


def enrol_with_login_2fa(base: str, t: LiveTrader) -> tuple[str, list[str]]:
    """Set up 2FA on ``base`` and turn on Login 2FA (with a recovery code: no waiting)."""
    t.login(base)
    t.page(f"{base}/settings/security")
    started = t.hx(f"{base}/settings/security/2fa/setup")
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', started.text).group(1).replace(" ", "")
    for age in (30, 0):  # the step before, unless a step boundary just passed
        confirmed = t.hx(
            f"{base}/settings/security/2fa/confirm",
            {"code": totp.code_at(secret, time.time() - age), "password": PASSWORD},
        )
        codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", confirmed.text)
        if codes:
            break
    t.hx(
        f"{base}/settings/security/2fa/login-on",
        {"step": "verify", "password": PASSWORD, "code": codes[0]},
    )
    return secret, codes


def test_totp_code_accepted_by_one_worker_is_refused_by_the_other(workers, trader):
    a, b = workers
    register_and_get_key(a, "dave", PASSWORD)
    t = trader("dave")
    secret, _ = enrol_with_login_2fa(a, t)
    code = totp.code_at(secret, time.time())
    first, second = trader("dave"), trader("dave")
    assert first.login(a).headers["location"] == "/login/code"
    first.page(f"{a}/login/code")
    assert first.form(f"{a}/login/code", {"code": code}).status_code == 303
    assert second.login(b).headers["location"] == "/login/code"
    second.page(f"{b}/login/code")
    replay = second.form(f"{b}/login/code", {"code": code})
    assert replay.status_code == 422 and "already used" in replay.text


def test_totp_lock_set_by_one_worker_holds_in_the_other(workers, trader):
    a, b = workers
    register_and_get_key(a, "erin", PASSWORD)
    t = trader("erin")
    secret, _ = enrol_with_login_2fa(a, t)
    guesser = trader("erin")
    guesser.login(a)
    guesser.page(f"{a}/login/code")
    statuses = [guesser.form(f"{a}/login/code", {"code": "000000"}).status_code for _ in range(5)]
    assert statuses[-1] == 429
    owner = trader("erin")
    owner.login(b)
    owner.page(f"{b}/login/code")
    locked = owner.form(f"{b}/login/code", {"code": totp.code_at(secret, time.time())})
    assert locked.status_code == 429 and "Try again" in locked.text


def test_rate_limit_holds_across_two_workers(tmp_path):
    """`serve --workers 2`: each worker allows half the rate and half the burst, so a key
    never gets more than burst + rate × elapsed calls through, whichever worker each
    call reaches. A new connection per call lets the kernel spread them over both."""
    env = {"AUTOTRADER_COOKIE_SECURE": "false"}
    env |= {"AUTOTRADER_API_RATE_PER_SECOND": "2", "AUTOTRADER_API_BURST": "6"}
    with running_server(tmp_path, serve_args=("--workers", "2"), **env) as base:
        key = register_and_get_key(base, "dave", PASSWORD)
        started = time.monotonic()
        answers = [
            httpx.get(f"{base}/api/v1/me", headers={"api-key": key}, timeout=30) for _ in range(40)
        ]
        elapsed = time.monotonic() - started
    statuses = [a.status_code for a in answers]
    allowed = statuses.count(200)
    print(f"two workers: {allowed} of 40 allowed in {elapsed:.2f} s")  # for the record
    # An upper bound that a slower machine only loosens (elapsed grows with it): the
    # burst of 6 plus 2 a second, however the calls spread over the workers.
    assert allowed <= 6 + 2 * elapsed, (allowed, elapsed)
    assert allowed >= 3  # at least one worker's burst share got through
    limited = [a for a in answers if a.status_code == 429]
    assert limited and set(statuses) == {200, 429}
    assert all(int(a.headers["Retry-After"]) >= 1 for a in limited)
    assert all(a.json()["status"] == "error" for a in limited)
