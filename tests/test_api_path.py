"""The lean API path (webapp/api_stack.py), the owner cache and one write per response."""

import socket
import sqlite3
import time

import httpx
import pytest
from starlette.routing import Route

from tests.helpers import PASSWORD
from tests.live_server import register_and_get_key, running_server
from webapp.api_stack import ApiStack, SplitApp
from webapp.security.headers import BASE_HEADERS


def _has_security_headers(response: httpx.Response) -> None:
    for name, value in BASE_HEADERS.items():
        assert response.headers[name] == value, name
    assert response.headers["cache-control"] == "no-store"


async def test_api_answers_carry_every_security_header(client, trader):
    key = await trader.reveal_key()
    for response in (
        await client.get("/api/v1/me", headers={"api-key": key}),
        await client.get("/api/v1/me"),  # 401
        await client.get("/api/v1/nothing"),  # JSON 404
        await client.options("/api/v1/me"),  # 405
        await client.get("/healthz"),
    ):
        _has_security_headers(response)
        assert "set-cookie" not in response.headers  # no session work on this path
    assert (await client.options("/api/v1/me")).json()["status"] == "error"


async def test_an_oversized_api_body_is_a_json_413(client, trader):
    key = await trader.reveal_key()
    response = await client.post(
        "/api/v1/trading-accounts",
        content=b"{" + b" " * 300_000 + b"}",
        headers={"api-key": key, "content-type": "application/json"},
    )
    assert response.status_code == 413 and response.json()["status"] == "error"
    _has_security_headers(response)


async def test_an_unexpected_api_error_is_a_json_500_with_the_headers():
    async def boom(request):
        raise RuntimeError("a bug")

    app = SplitApp(api=ApiStack([Route("/api/boom", boom)], {}, []), routes=[])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        response = await c.get("/api/boom")
    assert response.status_code == 500
    assert response.json() == {
        "status": "error",
        "message": "Something went wrong on our side. Try again.",
    }
    _has_security_headers(response)
    assert "strict-transport-security" in response.headers  # https: HSTS as on pages


async def test_a_cached_owner_is_dropped_when_another_connection_commits(app, client, trader):
    lookup = app.state.ctx.api_lookup
    key = await trader.reveal_key()
    # The first call looks the owner up (the usage log is queued, not written: no commit).
    assert (await client.get("/api/v1/me", headers={"api-key": key})).status_code == 200
    statements: list[str] = []
    if not lookup.trace_statements(statements.append):
        pytest.skip("the owner cache is SQLite's (PRAGMA data_version)")
    try:
        assert (await client.get("/api/v1/me", headers={"api-key": key})).status_code == 200
        assert (await client.get("/api/v1/me", headers={"api-key": key})).status_code == 200
        selects = [s for s in statements if "digest" in s.lower()]
        assert selects == []  # both answered from the cache
        # A write by a connection the app knows nothing about (another worker, a CLI).
        database = app.state.ctx.settings.data_dir / "autotrader.db"
        other = sqlite3.connect(database)
        with other:
            other.execute("UPDATE users SET locked_at = 1")
        other.close()
        refused = await client.get("/api/v1/me", headers={"api-key": key})
        assert refused.status_code == 401 and "suspended" in refused.json()["message"]
    finally:
        lookup.trace_statements(None)


def _read(sock: socket.socket, until: bytes) -> bytes:
    data = b""
    deadline = time.monotonic() + 30
    while until not in data and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_head_continue_and_pipelining_over_the_real_server(tmp_path):
    with running_server(tmp_path, AUTOTRADER_COOKIE_SECURE="false") as base:
        key = register_and_get_key(base, "trader", PASSWORD)
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            # HEAD has no body write: its head must still go out.
            sock.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            head = _read(sock, b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200") and b"content-security-policy" in head
            # 100 Continue comes before the response, never held back behind it.
            body = b'{"pseudoAccName": "x"}'
            sock.sendall(
                b"POST /api/v1/trading-accounts HTTP/1.1\r\nHost: x\r\n"
                + f"api-key: {key}\r\ncontent-type: application/json\r\n".encode()
                + f"content-length: {len(body)}\r\nexpect: 100-continue\r\n\r\n".encode()
            )
            assert _read(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 100 Continue")
            sock.sendall(body)
            answer = _read(sock, b'"}')
            assert b"HTTP/1.1 422" in answer and b'"status":"error"' in answer
            # Two requests in one packet: two whole answers, in order.
            sock.sendall(
                b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                + f"GET /api/v1/me HTTP/1.1\r\nHost: x\r\napi-key: {key}\r\n\r\n".encode()
            )
            both = _read(sock, b'"username":"trader"')
            assert both.startswith(b"HTTP/1.1 200") and both.count(b"HTTP/1.1 200") == 2
            assert both.index(b"ok") < both.index(b'"username"')
