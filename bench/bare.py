"""The benchmark's anchor: a bare Starlette app (one JSONResponse route, no middleware).

Run by bench/bench.py under the server settings ``python -m webapp serve`` uses
(uvloop, httptools, no access log, no server header, 5 s keep-alive), so that every
throughput row can be read as a fraction of what Starlette on this stack can do.
Usage: python bench/bare.py PORT [--access-log]

``--access-log`` turns on uvicorn's own access log (its default, off in ``serve``,
which logs in the app instead): the anchor for a like-for-like row where both sides
write one line per request.
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def hello(request: Request) -> JSONResponse:
    """A small JSON answer, about the size of /api/v1/me's."""
    return JSONResponse({"status": "ok", "result": {"username": "bench"}})


app = Starlette(routes=[Route("/", hello, methods=["GET"])])

if __name__ == "__main__":
    logged = "--access-log" in sys.argv[2:]
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop="auto",
        http="auto",
        access_log=logged,
        log_level="info" if logged else "warning",
        server_header=False,
        timeout_keep_alive=5,
    )
