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
def running_server(
    folder: Path,
    *,
    data_dir: Path | None = None,
    database_url: str | None = None,
    host_name: str = "127.0.0.1",
    serve_args: tuple[str, ...] = (),
    **env_extra: str,
) -> Iterator[str]:
    """Start the server (by default with a fresh data directory and database in
    ``folder``); yields its base URL. Pass ``data_dir`` and ``database_url`` to run a
    second worker on the same data, and ``host_name="localhost"`` for passkeys (an IP
    address cannot be a WebAuthn RP id): the base URL and AUTOTRADER_PUBLIC_URL use it."""
    port = free_port()
    if host_name != "127.0.0.1":
        env_extra = {"AUTOTRADER_PUBLIC_URL": f"http://{host_name}:{port}", **env_extra}
    url = databases.fresh_url() if database_url is None else database_url
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUTOTRADER_DATABASE_URL": url, **env_extra}
    env.pop("AUTOTRADER_MASTER_KEYS", None)
    log_path = folder / f"server-{port}.log"
    command = [sys.executable, "-m", "webapp", "serve", "--port", str(port)]
    command += ["--data-dir", str(data_dir or folder / "var"), *serve_args]
    with log_path.open("w") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://{host_name}:{port}"
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


def create_bot_key(base: str, username: str, password: str, name: str, allow_ips: str) -> str:
    """Sign in and create a named read-only key limited to ``allow_ips``; the key."""
    with httpx.Client(base_url=base) as client:
        token = csrf_from(client.get("/login").text)
        form = {"csrf_token": token, "username": username, "password": password}
        client.post("/login", data=form)
        token = csrf_from(client.get("/settings/security").text)
        data = {"step": "verify", "stepup_password": password, "name": name}
        data |= {"allow_ips": allow_ips, "perm_read": "yes", "perm_manage": "", "expires": ""}
        created = client.post(
            "/settings/security/api-keys",
            data=data,
            headers={"X-CSRF-Token": token, "HX-Request": "true"},
        )
        assert created.status_code == 201, created.text
        return re.search(r"at_[0-9A-Za-z]{49}", created.text).group(0)


class LiveTrader:
    """A trader driving a live server over HTTP (cookies shared across ports)."""

    def __init__(self, client: httpx.Client, username: str, password: str) -> None:
        self.client = client
        self.username = username
        self.password = password
        self.csrf = ""

    def page(self, url: str) -> httpx.Response:
        """GET a page and keep its CSRF token."""
        response = self.client.get(url)
        if response.status_code == 200 and "csrf" in response.text.lower():
            self.csrf = csrf_from(response.text)
        return response

    def form(self, url: str, data: dict) -> httpx.Response:
        """POST a plain form."""
        return self.client.post(url, data={"csrf_token": self.csrf, **data})

    def hx(self, url: str, data: dict | None = None) -> httpx.Response:
        """POST like htmx (CSRF header)."""
        headers = {"X-CSRF-Token": self.csrf, "HX-Request": "true"}
        return self.client.post(url, data=data or {}, headers=headers)

    def login(self, base: str, password: str | None = None) -> httpx.Response:
        """Sign in on the server at ``base``."""
        self.page(f"{base}/login")
        return self.form(
            f"{base}/login", {"username": self.username, "password": password or self.password}
        )
