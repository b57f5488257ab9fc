"""In-process CPU per API call (run by hand): GET /api/v1/me with a key, straight into
the ASGI app, no sockets; best of 7 rounds of N calls, in process-CPU µs per call.

The server numbers come from bench/run --only api; this one isolates the app's own
cost from the server's so a change on the API path can be measured on a busy machine.
The access log is set up as the server sets it up (text lines, here to /dev/null).

Usage: .venv/bin/python bench/api_cpu.py [--calls N] [--path P] [--flush]
       [--profile [tottime|cumulative]]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import Trader, fast_passwords, make_client  # noqa: E402
from webapp import logs  # noqa: E402
from webapp.app import create_app  # noqa: E402
from webapp.config import Settings  # noqa: E402
from webapp.vault import new_key_line  # noqa: E402

# The usage writer runs once a second; one worker serves about this many calls in one.
CALLS_A_SECOND = 10_000


def scope_for(app: object, key: str, path: str = "/api/v1/me") -> dict:
    """The scope uvicorn hands the app for ``GET path`` with the key."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"api-key", key.encode()),
        ],
        "app": app,
    }


async def calls(app, key: str, n: int, flush: bool = False, path: str = "/api/v1/me") -> float:
    """CPU seconds for ``n`` calls."""

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses: list[int] = []

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    from webapp import api_usage  # after webapp.app: api_usage sits in an import cycle

    ctx = app.state.ctx
    started = time.process_time()
    for done in range(1, n + 1):
        await app(scope_for(app, key, path), receive, send)
        if flush and done % CALLS_A_SECOND == 0:
            await api_usage.flush(ctx)  # as the usage writer would, once a second
    spent = time.process_time() - started
    ctx.usage.take()  # the rest: what the usage writer would have written
    assert statuses == [200] * n, statuses[:3]
    return spent


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--flush", action="store_true", help="count the usage writer too")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", nargs="?", const="tottime", help="sort key (tottime)")
    parser.add_argument("--path", default="/api/v1/me", help="another GET path, e.g. /healthz")
    args = parser.parse_args()
    logs.configure("info", "text")
    logging.getLogger().handlers[0].setStream(open("/dev/null", "w"))  # noqa: SIM115
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            master_keys=new_key_line("k1"),
            api_rate_per_second=10**9,
            api_burst=10**9,
        )
        app = create_app(settings, passwords=fast_passwords(), usage_writer=False)
        async with app.router.lifespan_context(app):
            async with make_client(app) as client:
                trader = Trader(client)
                await trader.register()
                key = await trader.reveal_key()
            await calls(app, key, 200)  # warm caches
            if args.profile:
                profile = cProfile.Profile()
                profile.enable()
                await calls(app, key, args.calls, args.flush, args.path)
                profile.disable()
                pstats.Stats(profile).sort_stats(args.profile).print_stats(25)
                return
            best = min(
                [
                    await calls(app, key, args.calls, args.flush, args.path)
                    for _ in range(args.rounds)
                ]
            )
            print(f"GET {args.path} in-process: {best / args.calls * 1e6:.1f} µs CPU per call")


if __name__ == "__main__":
    asyncio.run(main())
