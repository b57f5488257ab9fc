"""uvicorn's HTTP protocol with TCP_NODELAY and the connection rules of webapp/connections.py.

With ``--workers`` uvicorn binds the listening socket itself (protocol number 0), and
asyncio then leaves Nagle's algorithm on for accepted connections: small responses
wait ~40 ms for a delayed ACK. Setting TCP_NODELAY here makes every mode behave alike.
uvicorn writes a response's head and its body separately, which with TCP_NODELAY is two
system calls and two packets for every small answer; :class:`HeadHolder` holds the head
back until the body's first write and sends both as one.

The same subclass works over httptools and h11 (whichever uvicorn's "auto" picks): it
only uses ``self.cycle``, which both set when a request head is complete.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from webapp.config import Settings
from webapp.connections import ConnectionGate, Limits, default_max_connections
from webapp.security.proxies import parse_networks

log = logging.getLogger("webapp.connections")
_gate: ConnectionGate | None = None


def limits_from(settings: Settings) -> Limits:
    """The caps for this process: the settings, bounded by its open-files limit."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    fitting = default_max_connections(soft if soft != resource.RLIM_INFINITY else 1 << 20)
    total = min(settings.max_connections, fitting) if settings.max_connections else fitting
    return Limits(
        total=total,
        per_address=settings.max_connections_per_address,
        head_timeout=float(settings.head_timeout_seconds),
        trusted=parse_networks(settings.trusted_proxies),
    )


def configure(limits: Limits) -> None:
    """Use these limits for every connection this process accepts."""
    global _gate
    _gate = ConnectionGate(limits)


def gate() -> ConnectionGate:
    """This process's gate (a ``--workers`` child builds its own from the environment)."""
    if _gate is None:
        configure(limits_from(Settings.from_env()))
    assert _gate is not None
    return _gate


class HeadHolder:
    """A request cycle's transport that sends the response head with the body's first write.

    Only the first write after the response started is held (never a ``100 Continue``,
    which comes before it), and never for HEAD, whose response has no body write. Any
    other write, ``close`` or the end of the response sends what is held first, so the
    bytes and their order on the wire are unchanged.
    """

    __slots__ = ("_cycle", "_head_seen", "_held", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: object) -> None:
        self._transport = transport
        self._cycle = cycle
        self._held: bytes | None = None
        self._head_seen = False

    def write(self, data: bytes) -> None:
        """Send ``data`` (after anything held), or hold it if it is the response head."""
        if self._held is not None:
            data, self._held = self._held + data, None
        elif not self._head_seen and self._cycle.response_started:  # type: ignore[attr-defined]
            self._head_seen = True
            if self._cycle.scope["method"] != "HEAD":  # type: ignore[attr-defined]
                self._held = data
                return
        self._transport.write(data)

    def flush(self) -> None:
        """Send what is held."""
        if self._held is not None:
            held, self._held = self._held, None
            self._transport.write(held)

    def close(self) -> None:
        """Send what is held, then close."""
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> object:
        return getattr(self._transport, name)


# AutoHTTPProtocol is a variable (httptools' class if installed, else h11's), which
# mypy cannot take as a base class: the only way to subclass whichever uvicorn picked.
class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """The default protocol, with Nagle's algorithm off and the connection rules on."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Admit or refuse the connection; turn off Nagle's algorithm."""
        super().connection_made(transport)
        self._gate = gate()
        address = self.client[0] if self.client else ""
        refused = self._gate.admit(self, address)
        if refused:
            # Closing at once frees the descriptor; logs are rate-limited (webapp/logs.py).
            log.warning("refused a connection from %s: over the %s cap", address, refused)
            transport.close()
            return
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def on_headers_complete(self) -> None:
        """The new request cycle writes through a :class:`HeadHolder` (httptools only)."""
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and not isinstance(cycle.transport, HeadHolder):
            cycle.transport = HeadHolder(cycle.transport, cycle)

    def data_received(self, data: bytes) -> None:
        """Parse as usual; a new cycle means a complete head, so the deadline stops."""
        cycle = self.cycle
        super().data_received(data)
        if self.cycle is not cycle:
            self._gate.busy(self)

    def on_response_complete(self) -> None:
        """After a response, the next request head is due within the deadline."""
        super().on_response_complete()
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self._gate.idle(self)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection, then clean up as usual."""
        self._gate.release(self)
        super().connection_lost(exc)

    def close_idle(self) -> None:
        """Close a connection with no request in flight (deadline passed, or evicted)."""
        if not self.transport.is_closing():
            self.transport.close()
