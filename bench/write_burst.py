"""Write burst on SQLite (run by hand, never in the test suite): prints one markdown table.

For one and for two workers, starts ``python -m webapp serve`` on loopback with a fresh
SQLite data folder and runs a mixed load for ``--seconds`` (default 60): API clients
create, edit and delete trading accounts, one browser re-generates its API key, one
signs in again and again, readers call the API. In the middle third the number of
writers jumps (the burst). Counts 5xx answers and transport errors (a dropped or
refused connection), and reports write and sign-in latency beside one argon2id hash.

Usage: .venv/bin/python bench/write_burst.py [--seconds 60] [--app-root PATH]
(``--app-root`` runs the server from another checkout, e.g. an older commit, to compare.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import csrf_from  # noqa: E402
from tests.live_server import free_port, register_and_get_key  # noqa: E402

PASSWORD = "correct horse battery staple"  # noqa: S105  (throwaway accounts)
WRITERS_CALM, WRITERS_BURST, READERS = 4, 32, 4
BODY = {"broker": "upstox", "platform": "Upstox API", "apiKey": "k-1", "apiSecret": "s-1"}


@dataclass
class Tally:
    """Latencies per kind of request, 5xx answers and transport errors."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    server_errors: int = 0
    transport_errors: Counter = field(default_factory=Counter)
    requests: int = 0

    async def time(self, kind: str, call) -> httpx.Response | None:
        """Run one request, file its latency under ``kind``."""
        started = time.perf_counter()
        self.requests += 1
        try:
            response = await call
        except httpx.HTTPError as exc:
            self.transport_errors[type(exc).__name__] += 1
            return None
        self.latencies[kind].append(time.perf_counter() - started)
        if response.status_code >= 500:
            self.server_errors += 1
        return response


def start(data_dir: Path, workers: int, app_root: Path) -> tuple[subprocess.Popen, str]:
    """The server on a free loopback port, once /healthz answers."""
    port = free_port()
    env = {**os.environ, "AUTOTRADER_COOKIE_SECURE": "false", "PYTHONPATH": str(app_root)}
    # A burst of writes with one key: lift the per-key rate limit (it is not measured here).
    env.update(AUTOTRADER_API_RATE_PER_SECOND="10000000", AUTOTRADER_API_BURST="10000000")
    env.pop("AUTOTRADER_MASTER_KEYS", None)
    env.pop("AUTOTRADER_DATABASE_URL", None)
    command = [sys.executable, "-m", "webapp", "serve", "--port", str(port)]
    command += ["--data-dir", str(data_dir), "--workers", str(workers)]
    proc = subprocess.Popen(
        command, cwd=app_root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start in 60 s")


async def writer(base: str, key: str, n: int, tally: Tally, until: float) -> None:
    """Create, edit and delete one account after another."""
    headers = {"api-key": key}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        i = 0
        while time.monotonic() < until:
            i += 1
            name = f"W{n}-{i}"
            body = {**BODY, "pseudoAccName": name, "loginId": name}
            made = await tally.time("write", client.post("/api/v1/trading-accounts", json=body))
            if made is None or made.status_code != 201:
                continue
            path = f"/api/v1/trading-accounts/{made.json()['result']['id']}"
            await tally.time("write", client.patch(path, json={"platform": "Edited"}))
            await tally.time("write", client.delete(path))


async def reader(base: str, key: str, tally: Tally, until: float) -> None:
    """The API's read side."""
    async with httpx.AsyncClient(base_url=base, headers={"api-key": key}, timeout=60) as c:
        while time.monotonic() < until:
            await tally.time("read", c.get("/api/v1/me"))
            await tally.time("read", c.get("/api/v1/trading-accounts"))


async def regenerator(base: str, username: str, tally: Tally, until: float) -> None:
    """A browser that re-generates its API key (password once, then inside the window)."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        token = csrf_from((await c.get("/login")).text)
        form = {"csrf_token": token, "username": username, "password": PASSWORD}
        await c.post("/login", data=form)
        token = csrf_from((await c.get("/settings/security")).text)
        headers = {"X-CSRF-Token": token, "HX-Request": "true"}
        data = {"step": "verify", "confirm": "yes", "password": PASSWORD}
        while time.monotonic() < until:
            call = c.post("/settings/security/api-key/regenerate", data=data, headers=headers)
            await tally.time("write", call)
            data = {"step": "verify", "confirm": "yes"}


async def signer(base: str, username: str, tally: Tally, until: float) -> None:
    """Signs in again and again with the right password (argon2id each time)."""
    while time.monotonic() < until:
        async with httpx.AsyncClient(base_url=base, timeout=60) as c:
            page = await tally.time("read", c.get("/login"))
            if page is None or page.status_code != 200:
                continue
            form = {"csrf_token": csrf_from(page.text), "username": username, "password": PASSWORD}
            await tally.time("sign-in", c.post("/login", data=form))


async def load(base: str, keys: list[str], seconds: float, burst: int, regen: int) -> Tally:
    """Calm writers throughout, a burst of writers in the middle third."""
    tally = Tally()
    begin = time.monotonic()
    end = begin + seconds
    tasks = [asyncio.create_task(writer(base, keys[0], n, tally, end)) for n in range(WRITERS_CALM)]
    tasks += [asyncio.create_task(reader(base, keys[0], tally, end)) for _ in range(READERS)]
    tasks += [asyncio.create_task(regenerator(base, f"regen{i}", tally, end)) for i in range(regen)]
    tasks.append(asyncio.create_task(signer(base, "signer", tally, end)))
    await asyncio.sleep(seconds / 3)
    burst_end = begin + 2 * seconds / 3
    tasks += [
        asyncio.create_task(writer(base, keys[1], 100 + n, tally, burst_end)) for n in range(burst)
    ]
    await asyncio.gather(*tasks)
    return tally


def p(values: list[float], q: float) -> str:
    """The q-quantile in milliseconds."""
    if not values:
        return "–"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:.0f} ms"


def argon2_cost() -> float:
    """Median seconds of one production argon2id hash on this machine."""
    sys.path.insert(0, str(ROOT))
    from webapp.passwords import Passwords

    hasher = Passwords()
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        asyncio.run(hasher.hash(PASSWORD))
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def run_once(workers: int, args: argparse.Namespace) -> Tally:
    """One server, its traders, one load."""
    with tempfile.TemporaryDirectory(prefix="write-burst-") as folder:
        proc, base = start(Path(folder) / "var", workers, args.app_root.resolve())
        try:
            keys = [register_and_get_key(base, f"writer{i}", PASSWORD) for i in range(2)]
            for i in range(args.regenerators):
                register_and_get_key(base, f"regen{i}", PASSWORD)
            register_and_get_key(base, "signer", PASSWORD)
            return asyncio.run(load(base, keys, args.seconds, args.burst, args.regenerators))
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    """Measure one and two workers; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--app-root", type=Path, default=ROOT)
    parser.add_argument("--burst", type=int, default=WRITERS_BURST, help="writers in the burst")
    parser.add_argument("--regenerators", type=int, default=1, help="browsers re-generating")
    parser.add_argument("--workers", default="1,2", help="worker counts to measure, e.g. 1,2")
    args = parser.parse_args()
    hash_cost = argon2_cost()
    commit = subprocess.run(
        ["git", "-C", str(args.app_root), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    print(
        f"App {commit or args.app_root}; {os.cpu_count()} cores; Python {platform.python_version()}"
    )
    print(
        f"{args.seconds:.0f} s per row; "
        f"writers {WRITERS_CALM} → {WRITERS_CALM + args.burst} in the middle third, "
        f"{args.regenerators} re-generating"
    )
    print()
    print(
        "| workers | requests | 5xx | transport errors | write p50 | write p99 | sign-in p50 | "
        "sign-in p99 | argon2id hash |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for workers in (int(w) for w in args.workers.split(",")):
        tally = run_once(workers, args)
        writes, signs = tally.latencies["write"], tally.latencies["sign-in"]
        errors = tally.transport_errors
        transport = f"{errors.total()}" + (f" ({', '.join(sorted(errors))})" if errors else "")
        print(
            f"| {workers} | {tally.requests} | {tally.server_errors} | {transport} | "
            f"{p(writes, 0.5)} | {p(writes, 0.99)} | {p(signs, 0.5)} | {p(signs, 0.99)} | "
            f"{hash_cost * 1000:.0f} ms |",
            flush=True,
        )


if __name__ == "__main__":
    main()
