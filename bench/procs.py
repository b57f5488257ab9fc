"""Servers for the benchmark: start, stop, memory and CPU time from /proc."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.live_server import free_port  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def _listening(url: str) -> bool:
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        return True
    except OSError:
        return False


def _wait(proc: subprocess.Popen, url: str, started: float) -> float:
    """Seconds from ``started`` to the first 200. Polls with a bare connect every 2 ms
    (cheap: on two cores a busier poller would slow the server it is timing), then GETs."""
    while True:
        if _listening(url):
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
        if proc.poll() is not None or time.perf_counter() - started > 30:
            raise SystemExit(f"the server behind {url} did not start")
        time.sleep(0.002)


def start_app(
    data_dir: Path,
    database_url: str = "",
    workers: int = 1,
    pin: str = "",
    **env_extra: str,
) -> tuple[subprocess.Popen, str, float]:
    """Launch the app; returns the process, base URL and seconds to the first 200."""
    port = free_port()
    env = {**os.environ, "AUTOTRADER_COOKIE_SECURE": "false", "PYTHONPATH": str(ROOT)}
    # The rows measure a key check that succeeds, thousands a second with one key: lift
    # the per-key rate limit (it would answer most of them 429).
    env.update(AUTOTRADER_API_RATE_PER_SECOND="10000000", AUTOTRADER_API_BURST="10000000")
    env.update(AUTOTRADER_DATABASE_URL=database_url, **env_extra)
    env.pop("AUTOTRADER_MASTER_KEYS", None)
    command = [sys.executable, "-m", "webapp", "serve", "--port", str(port)]
    command += ["--data-dir", str(data_dir), "--workers", str(workers)]
    if pin:
        command = ["taskset", "-c", pin, *command]
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    return proc, base, _wait(proc, f"{base}/healthz", started)


def start_bare(access_log: bool = False) -> tuple[subprocess.Popen, str]:
    """Launch the bare Starlette anchor (bench/bare.py), with uvicorn's access log if
    ``access_log``; returns the process and URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "bare.py"), str(port)]
        + (["--access-log"] if access_log else []),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    _wait(proc, f"{base}/", time.perf_counter())
    return proc, base


def stop(proc: subprocess.Popen) -> None:
    """Stop a server, politely first."""
    proc.terminate()  # graceful: it finishes queued requests first
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def _status(pid: int, field: str) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1)) / 1024


def rss_mb(pid: int) -> float:
    """Resident memory now, in MB."""
    return _status(pid, "VmRSS")


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM), in MB."""
    return _status(pid, "VmHWM")


def tree(pid: int) -> list[int]:
    """A process and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK
