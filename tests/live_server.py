"""Run the real server (``python -m webapp serve``) on a free loopback port, for tests."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests import databases
from tests.helpers import csrf_from

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(folder: Path, **env_extra: str) -> Iterator[str]:
    """Start the server with a fresh data directory in ``folder``; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AUTOTRADER_DATABASE_URL": databases.fresh_url(),
        **env_extra,
    }
    env.pop("AUTOTRADER_MASTER_KEYS", None)
    log_path = folder / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "webapp",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(folder / "var"),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(base, proc, log_path)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _wait_healthy(base: str, proc: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited during start-up:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).text == "ok":
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not answer /healthz in 30 s")


def register_and_get_key(base: str, username: str, password: str) -> str:
    """Sign up through the forms of a server run with AUTOTRADER_COOKIE_SECURE=false."""
    with httpx.Client(base_url=base) as client:
        token = csrf_from(client.get("/register").text)
        form = {"csrf_token": token, "username": username, "password": password}
        client.post("/register", data=form)
        token = csrf_from(client.get("/settings/security").text)
        shown = client.post(
            "/settings/security/api-key/view",
            data={"step": "verify", "password": password},
            headers={"X-CSRF-Token": token, "HX-Request": "true"},
        ).text
        return re.search(r"at_[0-9A-Za-z]{49}", shown).group(0)
