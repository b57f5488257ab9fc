"""Benchmarks (run by hand, never in the test suite): prints one markdown table.

Starts the app under uvicorn on loopback with a fresh data directory and measures, in
one run: API-auth throughput against /healthz, /healthz latency during a sign-in flood,
the server's peak memory, the Security page's transfer size, the View step-up latency
and start-up time. Needs wrk (Debian: apt-get install wrk).

Usage: bench/run [--seconds N]
"""

from __future__ import annotations

import argparse
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

from tests.helpers import csrf_from  # noqa: E402
from tests.live_server import free_port, register_and_get_key  # noqa: E402

PASSWORD = "correct horse battery staple"  # noqa: S105  (a throwaway account)


def start_server(
    data_dir: Path, database_url: str = "", workers: int = 1
) -> tuple[subprocess.Popen, str, float]:
    """Launch the app; returns the process, base URL and seconds to the first 200."""
    port = free_port()
    env = {**os.environ, "AUTOTRADER_COOKIE_SECURE": "false", "PYTHONPATH": str(ROOT)}
    env["AUTOTRADER_DATABASE_URL"] = database_url
    env.pop("AUTOTRADER_MASTER_KEYS", None)
    started = time.perf_counter()
    command = [sys.executable, "-m", "webapp", "serve", "--port", str(port)]
    command += ["--data-dir", str(data_dir), "--workers", str(workers)]
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base, time.perf_counter() - started
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.perf_counter() - started > 30:
            raise SystemExit("the server did not start")
        time.sleep(0.005)


def wrk(url: str, seconds: int, connections: int, *extra: str, args: tuple = ()) -> str:
    """Run wrk and return its report (``args`` go to the Lua script)."""
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", *extra, url]
    if args:
        cmd += ["--", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def requests_per_second(report: str) -> float:
    """The Requests/sec figure of a wrk report."""
    return float(re.search(r"Requests/sec:\s+([\d.]+)", report).group(1))


def healthz_latencies(base: str, seconds: float) -> list[float]:
    """Sequential /healthz requests for a while; latencies in milliseconds."""
    found = []
    with httpx.Client(base_url=base) as client:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            client.get("/healthz")
            found.append((time.perf_counter() - t0) * 1000)
    return found


def p(values: list[float], q: float) -> float:
    """The q-th percentile (0-100)."""
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process (VmHWM), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def flood(base: str, seconds: int) -> tuple[float, float, str]:
    """/healthz p99 idle and during 50 wrong-password sign-in clients, and wrk's summary."""
    idle = p(healthz_latencies(base, seconds), 99)
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
    busy = p(healthz_latencies(base, seconds - 1), 99)
    runner.join()
    return idle, busy, result["out"]


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
            raw = response.num_bytes_downloaded
            total += raw + len(str(response.headers))
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


def stop(proc: subprocess.Popen) -> None:
    """Stop a server, politely first."""
    proc.terminate()  # graceful: it finishes queued requests first
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def postgres_workers(seconds: int) -> str:
    """API-auth req/s with two workers on PostgreSQL ÷ one worker (a throwaway cluster)."""
    started = subprocess.run(
        [str(ROOT / "scripts" / "postgres"), "start"], capture_output=True, text=True
    )
    if started.returncode != 0:
        return f"skipped: {started.stderr.strip() or 'no PostgreSQL'}"
    values = dict(
        line.removeprefix("export ").split("=", 1) for line in started.stdout.splitlines()
    )
    admin, pgdir = values["AUTOTRADER_TEST_POSTGRES"], values["PGDIR"]
    rates = {}
    try:
        for workers in (1, 2):
            name = f"bench_{workers}_{os.getpid()}"
            host_port = admin.split("@", 1)[1].split("/", 1)[0]
            host, port = host_port.split(":")
            subprocess.run(["createdb", "-h", host, "-p", port, "-U", "postgres", name], check=True)
            url = f"postgresql+asyncpg://postgres@{host_port}/{name}"
            with tempfile.TemporaryDirectory() as tmp:
                proc, base, _ = start_server(Path(tmp) / "var", url, workers)
                try:
                    key = register_and_get_key(base, "bench", PASSWORD)
                    report = wrk(f"{base}/api/v1/me", seconds, 20, "-H", f"api-key: {key}")
                    rates[workers] = requests_per_second(report)
                finally:
                    stop(proc)
    finally:
        subprocess.run([str(ROOT / "scripts" / "postgres"), "stop", pgdir], check=False)
    ratio = rates[2] / rates[1]
    return f"{rates[2]:.0f} req/s ÷ {rates[1]:.0f} req/s = **{ratio:.2f}**"


def main() -> None:
    """Run every measurement against one server and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8, help="length of each load phase")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        proc, base, startup = start_server(Path(tmp) / "var")
        try:
            key = register_and_get_key(base, "bench", PASSWORD)
            health = requests_per_second(wrk(f"{base}/healthz", args.seconds, 20))
            api = requests_per_second(
                wrk(f"{base}/api/v1/me", args.seconds, 20, "-H", f"api-key: {key}")
            )
            size = page_bytes(base, "bench")
            reveal = reveal_latencies(base, "bench", 20)
            # Last: the flood locks this address out of further sign-ins for 15 minutes.
            idle, busy, flood_report = flood(base, args.seconds)
            rss = peak_rss_mb(proc.pid)
        finally:
            stop(proc)
    workers_row = postgres_workers(args.seconds)
    flood_rps = requests_per_second(flood_report)
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
        f"{time.strftime('%Y-%m-%d')}\n"
    )
    print("| row | measured | target |")
    print("| --- | --- | --- |")
    ratio = f"{api:.0f} req/s ÷ {health:.0f} req/s (/healthz) = **{api / health:.2f}**"
    print(f"| API auth | {ratio} | ≥ 0.5 |")
    latency = f"/healthz p99 {busy:.1f} ms ÷ idle {idle:.1f} ms = **{busy / idle:.1f}**"
    print(f"| Sign-in flood | {latency} ({flood_rps:.0f} sign-ins/s refused) | ≤ 5 |")
    print(f"| Memory | peak RSS **{rss:.0f} MB** | ≤ 300 MB |")
    print(f"| Security page | **{size / 1024:.1f} KB** with assets, gzip | ≤ 40 KB |")
    p50, p99 = statistics.median(reveal), p(reveal, 99)
    print(f"| Reveal | p50 **{p50:.0f} ms**, p99 **{p99:.0f} ms** | reported |")
    print(f"| Start-up | **{startup:.2f} s** to the first 200 on /healthz | ≤ 1.5 s |")
    print(f"| Two workers (PostgreSQL) | API auth {workers_row} | ≥ 1.6 |")


if __name__ == "__main__":
    main()
