"""uvicorn's HTTP protocol with TCP_NODELAY on every connection.

With ``--workers`` uvicorn binds the listening socket itself (protocol number 0), and
asyncio then leaves Nagle's algorithm on for accepted connections: small responses
wait ~40 ms for a delayed ACK. Setting TCP_NODELAY here makes every mode behave alike.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.auto import AutoHTTPProtocol


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """The default protocol, with Nagle's algorithm off."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Turn off Nagle's algorithm, then carry on as usual."""
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)  # type: ignore[arg-type]
