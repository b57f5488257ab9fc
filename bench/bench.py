"""Benchmarks (run by hand, never in the test suite): prints one markdown table.

Starts, in one run and under the same server settings, a bare Starlette app (bench/
bare.py: one JSONResponse route, no middleware) and the app on loopback with a fresh
data directory, and reports every throughput row as a ratio to the bare app. Rows: API
auth, /healthz and the Security page ÷ bare; a mixed load; 1,000 idle keep-alive and
1,000 silent connections held; memory after 10,000 API calls and 500 sign-ins; the
sign-in flood, page size, View step-up and start-up; two workers on PostgreSQL.
Needs wrk (Debian: apt-get install wrk) and, for the last row, PostgreSQL.

Usage: bench/run [--seconds N] [--mixed-seconds N] [--only api,startup,...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import load  # noqa: E402
from procs import cpu_seconds, peak_rss_mb, rss_mb, start_app, start_bare, stop, tree  # noqa: E402

from tests.helpers import csrf_from  # noqa: E402
from tests.live_server import create_bot_key, register_and_get_key  # noqa: E402

PASSWORD = load.PASSWORD
API_TARGET = 0.7  # the target of the "API auth ÷ bare" rows, and the budget row's basis


def wrk(
    url: str,
    seconds: int,
    connections: int,
    *extra: str,
    args: tuple = (),
    pin: str = "",
    threads: int = 0,
) -> str:
    """Run wrk and return its report (``args`` go to the Lua script; ``pin``: CPUs;
    ``threads``: wrk threads, by default 1 when pinned and 2 otherwise)."""
    threads = threads or (1 if pin else 2)
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", *extra, url]
    if args:
        cmd += ["--", *args]
    if pin:
        cmd = ["taskset", "-c", pin, *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def requests_per_second(report: str) -> float:
    """The Requests/sec figure of a wrk report."""
    return float(re.search(r"Requests/sec:\s+([\d.]+)", report).group(1))


def wrk_percentile(report: str, q: int) -> float:
    """A latency percentile (50, 75, 90 or 99) of a wrk --latency report, in ms."""
    value, unit = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)\s*$", report, re.M).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def p(values: list[float], q: float) -> float:
    """The q-th percentile (0-100)."""
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def anchored(
    bare: tuple, app: tuple, path: str, headers: dict[str, str], seconds: int, rounds: int = 3
) -> dict:
    """Bare and one app request (``path`` with ``headers``), interleaved ``rounds`` times;
    req/s and server CPU µs per request of each. ``bare`` and ``app``: (pid, base URL).

    Any "X ÷ bare" row is this plus :func:`anchored_row`: an API call with another
    key, an allow-list or a rate limit needs only its own path and headers.
    """
    found: dict[str, list[float]] = {"bare": [], "api": [], "ratio": [], "cpu": []}
    found.update(bare_us=[], api_us=[])
    extra = [part for name, value in headers.items() for part in ("-H", f"{name}: {value}")]
    for _ in range(rounds):
        rates, cpu = {}, {}
        for name, pid, url, flags in (
            ("bare", bare[0], f"{bare[1]}/", []),
            ("api", app[0], f"{app[1]}{path}", extra),
        ):
            before = cpu_seconds([pid])
            report = wrk(url, seconds, 20, *flags)
            rates[name] = requests_per_second(report)
            cpu[name] = (cpu_seconds([pid]) - before) / (rates[name] * seconds)
        found["bare"].append(rates["bare"])
        found["api"].append(rates["api"])
        found["ratio"].append(rates["api"] / rates["bare"])
        found["cpu"].append(cpu["bare"] / cpu["api"])
        found["bare_us"].append(cpu["bare"] * 1e6)
        found["api_us"].append(cpu["api"] * 1e6)
    return found


def anchored_row(label: str, found: dict, target: str) -> tuple[str, str, str]:
    """A table row for :func:`anchored`'s result: medians, every run, CPU per request."""
    runs = ", ".join(f"{a:.0f}/{b:.0f}" for a, b in zip(found["api"], found["bare"], strict=True))
    median = statistics.median
    return (
        label,
        f"**{median(found['ratio']):.2f}** (median of {len(found['ratio'])} interleaved runs, "
        f"app/bare req/s: {runs}); server CPU per request {median(found['api_us']):.0f} µs "
        f"vs bare {median(found['bare_us']):.0f} µs (bare ÷ app = {median(found['cpu']):.2f})",
        target,
    )


def page_cookie(base: str, username: str) -> str:
    """A signed-in session cookie for ``username``."""
    with httpx.Client(base_url=base) as client:
        token = csrf_from(client.get("/login").text)
        client.post(
            "/login", data={"csrf_token": token, "username": username, "password": PASSWORD}
        )
        return f"autotrader_session={client.cookies['autotrader_session']}"


def page_bytes(base: str, key_user: str) -> int:
    """Bytes on the wire (gzip accepted) for the Security page and its assets."""
    total = 0
    with httpx.Client(base_url=base, headers={"Accept-Encoding": "gzip"}) as client:
        token = csrf_from(client.get("/login").text)
        client.post(
            "/login", data={"csrf_token": token, "username": key_user, "password": PASSWORD}
        )
        page = client.get("/settings/security")
        assets = re.findall(r'(?:src|href)="(/static/[^"?]+)', page.text)
        for response in [page, *(client.get(a) for a in assets)]:
            total += response.num_bytes_downloaded + len(str(response.headers))
    return total


def reveal_latencies(base: str, username: str, rounds: int) -> list[float]:
    """Latency of the View step-up POST (password checked each time: new sessions)."""
    found = []
    for _ in range(rounds):
        with httpx.Client(base_url=base) as client:
            token = csrf_from(client.get("/login").text)
            client.post(
                "/login", data={"csrf_token": token, "username": username, "password": PASSWORD}
            )
            token = csrf_from(client.get("/settings/security").text)
            t0 = time.perf_counter()
            shown = client.post(
                "/settings/security/api-key/view",
                data={"step": "verify", "password": PASSWORD},
                headers={"X-CSRF-Token": token, "HX-Request": "true"},
            )
            found.append((time.perf_counter() - t0) * 1000)
            assert "at_" in shown.text
    return found


def held(base: str, pid: int, count: int, send_request: bool, seconds: float) -> tuple:
    """RSS growth and /healthz p99 while ``count`` connections are held open."""
    port = int(base.rsplit(":", 1)[1])

    async def run() -> tuple[float, list[float], float]:
        before = rss_mb(pid)
        writers = await load.hold_connections(port, count, send_request)
        grown = rss_mb(pid) - before
        latencies = await load.healthz_latencies(base, seconds)
        still = sum(1 for w in writers if not w.transport.is_closing())
        for writer in writers:
            writer.close()
        return grown, latencies, still

    grown, latencies, still = asyncio.run(run())
    return grown, p(latencies, 99), statistics.median(latencies), still


def memory_growth(base: str, pid: int, key: str) -> tuple[float, float]:
    """RSS after 1,000 API calls, and after 10,000 API calls plus 500 sign-ins."""
    with httpx.Client(base_url=base, headers={"api-key": key}) as client:
        for _ in range(1000):
            client.get("/api/v1/me").raise_for_status()
        after_1k = rss_mb(pid)
        for _ in range(9000):
            client.get("/api/v1/me").raise_for_status()

    async def sign_ins() -> None:
        async def some(n: int) -> None:
            for _ in range(n):
                async with httpx.AsyncClient(base_url=base, timeout=30) as fresh:
                    assert (await load.sign_in(fresh, "bench")).status_code == 303

        await asyncio.gather(*(some(125) for _ in range(4)))

    asyncio.run(sign_ins())
    return after_1k, rss_mb(pid)


def sign_in_flood(base: str, seconds: int) -> tuple[float, float, float]:
    """/healthz p99 idle and during 50 wrong-password sign-in clients; sign-ins/s."""
    idle = p(asyncio.run(load.healthz_latencies(base, seconds)), 99)
    with httpx.Client(base_url=base) as client:
        page = client.get("/login")
        cookie = f"autotrader_session={client.cookies['autotrader_session']}"
        token = csrf_from(page.text)
    script = str(ROOT / "bench" / "flood.lua")
    result: dict[str, str] = {}
    runner = threading.Thread(
        target=lambda: result.update(
            out=wrk(f"{base}/login", seconds, 50, "-s", script, args=(cookie, token))
        )
    )
    runner.start()
    time.sleep(0.5)
    busy = p(asyncio.run(load.healthz_latencies(base, seconds - 1)), 99)
    runner.join()
    return idle, busy, requests_per_second(result["out"])


def restart_times(data_dir: Path, rounds: int = 3) -> list[tuple[float, float]]:
    """Seconds to the first 200 on /healthz, started on an existing database, and the
    CPU seconds the server had used by then (what a busy shared machine can't inflate)."""
    found = []
    for _ in range(rounds):
        proc, _, seconds = start_app(data_dir)
        found.append((seconds, cpu_seconds([proc.pid])))
        stop(proc)
    return found


def restart_times_compiled(data_dir: Path) -> list[tuple[float, float]]:
    """The same with webapp's bytecode compiled, as ``pip install`` leaves it (a checkout
    under PYTHONDONTWRITEBYTECODE=1 compiles every module of the app on every start)."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "webapp")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        return restart_times(data_dir)
    finally:
        for cache in (ROOT / "webapp").rglob("__pycache__"):
            shutil.rmtree(cache, ignore_errors=True)


def _postgres() -> tuple[str, str] | str:
    started = subprocess.run(
        [str(ROOT / "scripts" / "postgres"), "start"], capture_output=True, text=True
    )
    if started.returncode != 0:
        return f"skipped: {started.stderr.strip() or 'no PostgreSQL'}"
    values = dict(
        line.removeprefix("export ").split("=", 1) for line in started.stdout.splitlines()
    )
    return values["AUTOTRADER_TEST_POSTGRES"], values["PGDIR"]


def postgres_workers(seconds: int) -> str:
    """API auth with two workers ÷ one on PostgreSQL, wrk pinned to CPU 0 and the app
    to the rest; CPU seconds per process group show where the time went."""
    found = _postgres()
    if isinstance(found, str):
        return found
    admin, pgdir = found
    host_port = admin.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    postmaster = int((Path(pgdir) / "data" / "postmaster.pid").read_text().split()[0])
    cpus = os.cpu_count() or 1
    app_cpus = f"1-{cpus - 1}" if cpus > 1 else "0"
    rates, shares, free = {}, {}, {}
    try:
        for workers in (1, 2):
            name = f"bench_{workers}_{os.getpid()}"
            subprocess.run(["createdb", "-h", host, "-p", port, "-U", "postgres", name], check=True)
            url = f"postgresql+asyncpg://postgres@{host_port}/{name}"
            with tempfile.TemporaryDirectory() as tmp:
                proc, base, _ = start_app(Path(tmp) / "var", url, workers, pin=app_cpus)
                try:
                    key = register_and_get_key(base, "bench", PASSWORD)
                    app_pids, pg_pids = tree(proc.pid), tree(postmaster)
                    app0, pg0 = cpu_seconds(app_pids), cpu_seconds(pg_pids)
                    wrk0 = os.times().children_user + os.times().children_system
                    report = wrk(f"{base}/api/v1/me", seconds, 20, "-H", f"api-key: {key}", pin="0")
                    wrk_cpu = os.times().children_user + os.times().children_system - wrk0
                    rates[workers] = requests_per_second(report)
                    shares[workers] = (
                        (cpu_seconds(app_pids) - app0) / seconds,
                        (cpu_seconds(pg_pids) - pg0) / seconds,
                        wrk_cpu / seconds,
                    )
                    # Then unpinned: every process may use every core.
                    for pid in app_pids:
                        os.sched_setaffinity(pid, range(cpus))
                    # One wrk thread: it leaves more of the two cores to the workers.
                    report = wrk(
                        f"{base}/api/v1/me", seconds, 20, "-H", f"api-key: {key}", threads=1
                    )
                    free[workers] = requests_per_second(report)
                finally:
                    stop(proc)
    finally:
        subprocess.run([str(ROOT / "scripts" / "postgres"), "stop", pgdir], check=False)
    app2, pg2, wrk2 = shares[2]
    ratio = rates[2] / rates[1]
    return (
        f"{rates[2]:.0f} req/s ÷ {rates[1]:.0f} req/s = **{ratio:.2f}** (wrk on CPU 0, app on "
        f"CPU {app_cpus}; with two workers the app used {app2:.2f} cores, PostgreSQL "
        f"{pg2:.2f}, wrk {wrk2:.2f} of {cpus}); unpinned, wrk with one thread: "
        f"{free[2]:.0f} ÷ {free[1]:.0f} = {free[2] / free[1]:.2f}"
    )


def _seconds(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def _mixed_row(base: str, seconds: int) -> tuple[str, str, str]:
    tally, elapsed = asyncio.run(load.mixed_load(base, seconds))
    total = sum(len(v) for v in tally.latencies.values())
    per_op = "; ".join(
        f"{op} {len(tally.latencies[op])}× p99 {p(tally.latencies[op], 99):.0f} ms"
        for op in load.OPERATIONS
        if len(tally.latencies[op]) >= 2
    )
    odd = {
        op: dict(counts)
        for op, counts in tally.statuses.items()
        if any(s_ >= 400 or s_ == 0 for s_ in counts)
    }
    return (
        f"Mixed load, {seconds} s, 16 clients (2 signing in, 1 regenerating)",
        f"**{total / elapsed:.0f} req/s**, **{tally.server_errors}** 5xx; {per_op}"
        + (f"; other statuses {odd}" if odd else ""),
        "5xx = 0",
    )


def _held_rows(base: str, pid: int) -> list[tuple[str, str, str]]:
    grown, p99_idle, p50_idle, still_idle = held(base, pid, 1000, True, 3)
    _, p99_silent, p50_silent, still_silent = held(base, pid, 1000, False, 5)
    return [
        (
            "1,000 idle keep-alive connections",
            f"RSS **+{grown:.1f} MB**; /healthz p99 **{p99_idle:.1f} ms** (p50 "
            f"{p50_idle:.1f}) while held ({still_idle} still open after 3 s)",
            "reported",
        ),
        (
            "1,000 silent connections",
            f"/healthz p99 **{p99_silent:.1f} ms** (p50 {p50_silent:.1f}) while held "
            f"({still_silent} still open after 5 s; the head deadline is 10 s)",
            "reported",
        ),
    ]


def _budget_row(api: dict, health: dict) -> tuple[str, str, str]:
    """What API_TARGET of bare leaves for the key check: /healthz is the same stack (proxy
    addresses, route match, security headers, access-log line) answering without one."""
    median = statistics.median
    bare_us, health_us, api_us = (
        median(api["bare_us"]),
        median(health["api_us"]),
        median(api["api_us"]),
    )
    allowed = bare_us / API_TARGET
    budget = allowed - health_us
    return (
        f"Key check within {API_TARGET} of bare",
        f"{API_TARGET} of bare allows {allowed:.0f} µs of server CPU a call "
        f"({bare_us:.0f} ÷ {API_TARGET}); "
        f"/healthz, the same stack without a key check, takes {health_us:.0f} µs: that leaves "
        f"**{budget:.0f} µs** for the key check and /me's answer, which take "
        f"**{api_us - health_us:.0f} µs** (/me {api_us:.0f} µs − /healthz)",
        "reported",
    )


def _logged_bare_row(app: tuple, key: str, seconds: int) -> tuple[str, str, str]:
    """API auth against a bare app that logs each request as uvicorn does by default
    (the app logs each request too, in its own access log)."""
    proc, url = start_bare(access_log=True)
    try:
        found = anchored((proc.pid, url), app, "/api/v1/me", {"api-key": key}, seconds, rounds=1)
    finally:
        stop(proc)
    label = "API auth ÷ bare with uvicorn's access log (its default)"
    return anchored_row(label, found, "reported")


def _startup_row(data_dir: Path) -> tuple[str, str, str]:
    startup = restart_times(data_dir)
    compiled = restart_times_compiled(data_dir)
    pyc = "no bytecode cache" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "bytecode cached"
    wall = [w for w, _ in compiled]
    return (
        "Start-up",
        f"**{statistics.median(wall):.2f} s** to the first 200 on an existing database, "
        f"app compiled as installed (runs {_seconds(wall)}; CPU used by then "
        f"{_seconds([c for _, c in compiled])} s); from this checkout, {pyc}: "
        f"{statistics.median(w for w, _ in startup):.2f} s (runs "
        f"{_seconds([w for w, _ in startup])}; CPU {_seconds([c for _, c in startup])} s)",
        "≤ 1.0 s",
    )


GROUPS = ("api", "page", "mixed", "held", "memory", "reveal", "flood", "startup", "workers")


def main() -> None:
    """Run the chosen measurements (all by default) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8, help="length of each load phase")
    parser.add_argument("--mixed-seconds", type=int, default=60, help="length of the mixed load")
    parser.add_argument(
        "--only",
        default=",".join(GROUPS),
        help=f"comma-separated rows to run, of: {', '.join(GROUPS)} (default: all)",
    )
    args = parser.parse_args()
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    if only - set(GROUPS):
        parser.error(f"unknown rows: {', '.join(sorted(only - set(GROUPS)))}")
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    s = args.seconds
    rows: list[tuple[str, str, str]] = []
    bare_proc, bare = start_bare()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data_dir = Path(tmp) / "var"
            proc, base, _ = start_app(data_dir)
            try:
                key = register_and_get_key(base, "bench", PASSWORD)
                app = (proc.pid, base)
                if "api" in only:
                    anchor = anchored((bare_proc.pid, bare), app, "/api/v1/me", {"api-key": key}, s)
                    bare_rps = statistics.median(anchor["bare"])
                    rows.append(
                        (
                            "Bare Starlette (anchor)",
                            f"**{bare_rps:.0f} req/s** (median of 3; one JSONResponse route, "
                            "no middleware)",
                            "—",
                        )
                    )
                    rows.append(anchored_row("API auth ÷ bare", anchor, f"≥ {API_TARGET}"))
                    # A bot's key: read only, an allow-list the call passes (loopback among
                    # other ranges), the rate limiter counting (its limit lifted so it never
                    # refuses: the row measures the checks, not the 429s).
                    allow = "203.0.113.0/24\n2001:db8::/32\n127.0.0.0/8\n::1"
                    bot = create_bot_key(base, "bench", PASSWORD, "bench bot", allow)
                    restricted = anchored(
                        (bare_proc.pid, bare), app, "/api/v1/me", {"api-key": bot}, s
                    )
                    rows.append(
                        anchored_row(
                            "API auth ÷ bare, key with allow-list and rate limit",
                            restricted,
                            f"≥ {API_TARGET}",
                        )
                    )
                    health = anchored((bare_proc.pid, bare), app, "/healthz", {}, s)
                    rows.append(anchored_row("/healthz ÷ bare", health, "reported"))
                    # The floor of any API answer: the same path with no key is a 401
                    # from the same stack (headers, envelope, access log), no look-up.
                    floor = anchored((bare_proc.pid, bare), app, "/api/v1/me", {}, s, rounds=1)
                    rows.append(
                        anchored_row("API call without a key (401) ÷ bare", floor, "reported")
                    )
                    rows.append(_budget_row(anchor, health))
                    rows.append(_logged_bare_row(app, key, s))
                if "page" in only:
                    cookie = page_cookie(base, "bench")
                    page = anchored(
                        (bare_proc.pid, bare), app, "/settings/security", {"Cookie": cookie}, s, 1
                    )
                    report = wrk(f"{base}/settings/security", s, 20, "-H", f"Cookie: {cookie}")
                    label, text, _ = anchored_row("Security page ÷ bare", page, "reported")
                    text += (
                        f"; p50 **{wrk_percentile(report, 50):.1f} ms**, p99 "
                        f"**{wrk_percentile(report, 99):.1f} ms** at 20 connections"
                    )
                    rows.append((label, text, "reported"))
                    size = page_bytes(base, "bench")
                    rows.append(
                        (
                            "Security page size",
                            f"**{size / 1024:.1f} KB** with assets, gzip",
                            "≤ 40 KB",
                        )
                    )
                if "mixed" in only:
                    rows.append(_mixed_row(base, args.mixed_seconds))
                if "held" in only:
                    rows.extend(_held_rows(base, proc.pid))
                if "memory" in only:
                    after_1k, after_10k = memory_growth(base, proc.pid, key)
                    rows.append(
                        (
                            "Memory growth",
                            f"RSS {after_1k:.0f} MB after 1,000 API calls → **{after_10k:.0f} MB** "
                            f"after 10,000 and 500 sign-ins (**{after_10k - after_1k:+.1f} MB**)",
                            "no growth beyond noise",
                        )
                    )
                if "reveal" in only:
                    reveal = reveal_latencies(base, "bench", 20)
                    rows.append(
                        (
                            "Reveal",
                            f"p50 **{statistics.median(reveal):.0f} ms**, p99 "
                            f"**{p(reveal, 99):.0f} ms**",
                            "reported",
                        )
                    )
                if "flood" in only:
                    # Last: the flood locks this address out of further sign-ins for 15 minutes.
                    idle, busy, flood_rps = sign_in_flood(base, s)
                    rows.append(
                        (
                            "Sign-in flood",
                            f"/healthz p99 {busy:.1f} ms ÷ idle {idle:.1f} ms = "
                            f"**{busy / idle:.1f}** ({flood_rps:.0f} sign-ins/s refused)",
                            "≤ 5",
                        )
                    )
                peak = peak_rss_mb(proc.pid)
            finally:
                stop(proc)
            rows.append(("Memory", f"peak RSS **{peak:.0f} MB**", "≤ 300 MB"))
            if "startup" in only:
                rows.append(_startup_row(data_dir))
    finally:
        stop(bare_proc)
    if "workers" in only:
        rows.append(("Two workers (PostgreSQL)", f"API auth {postgres_workers(s)}", "≥ 1.6"))

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    print(
        f"Machine: {os.cpu_count()} cores, {cpu}; Python {platform.python_version()}; "
        f"{time.strftime('%Y-%m-%d')}; uvicorn with uvloop + httptools for both servers\n"
    )
    print("| row | measured | target |")
    print("| --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
