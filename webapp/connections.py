"""Which TCP connections the server keeps: caps, a request-head deadline, eviction.

The app is often exposed without a reverse proxy, so it must survive one client that
opens hundreds of sockets and sends nothing (slowloris). Three rules, per process:

- a connection must deliver a complete request head within ``head_timeout`` seconds
  of opening (or of its previous response); otherwise it is closed;
- one address may hold at most ``per_address`` connections (trusted proxies carry
  many clients, so they are exempt); beyond that a new connection is closed at once;
- at ``total`` connections, a new one evicts the connection that has waited longest
  for a request head (nginx drains idle connections the same way), and is closed only
  when every connection is busy with a request. The total stays below the open-files
  limit, so ``accept()`` never fails for want of descriptors.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import resource
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from webapp.security.proxies import Network

log = logging.getLogger("webapp.connections")

FD_RESERVE = 64  # descriptors kept for the database, the log, key and static files
FD_TARGET_WHEN_UNLIMITED = 65536
DEFAULT_MAX_CONNECTIONS = 4096  # bench: +7 MB RSS per 1,000 idle connections, ~30 MB here


class Closable(Protocol):
    """What the gate needs from a connection."""

    def close_idle(self) -> None:
        """Close a connection that has no request in flight."""


def raise_open_files_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns (soft, hard) after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = FD_TARGET_WHEN_UNLIMITED if hard == resource.RLIM_INFINITY else hard
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft, hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):  # a container may forbid it: keep what we have
        return soft, hard
    return target, hard


def default_max_connections(open_files: int) -> int:
    """The connection cap that leaves a quarter of the descriptors (≥ 64) spare."""
    usable = max(16, open_files - FD_RESERVE) * 3 // 4
    return max(16, min(DEFAULT_MAX_CONNECTIONS, usable))


@dataclass(frozen=True)
class Limits:
    """The caps and the deadline, resolved for this process."""

    total: int
    per_address: int  # 0: no per-address cap
    head_timeout: float
    trusted: list[Network] = field(default_factory=list)


def _trusted(address: str, networks: list[Network]) -> bool:
    if not networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


class ConnectionGate:
    """Admits, tracks and closes connections by the rules in the module docstring."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._open: dict[Closable, str] = {}
        self._per_address: Counter[str] = Counter()
        # Connections waiting for a request head, oldest first (the eviction order).
        self._waiting: OrderedDict[Closable, float] = OrderedDict()
        self._sweeper: asyncio.TimerHandle | None = None

    @property
    def open_count(self) -> int:
        """Connections currently admitted."""
        return len(self._open)

    def admit(self, conn: Closable, address: str) -> str:
        """Admit a new connection: '' if kept, else the reason it must be closed."""
        limits = self.limits
        if (
            limits.per_address
            and self._per_address[address] >= limits.per_address
            and not _trusted(address, limits.trusted)
        ):
            return "per-address"
        if len(self._open) >= limits.total and not self._evict_oldest():
            return "total"
        self._open[conn] = address
        self._per_address[address] += 1
        self._waiting[conn] = self._clock()
        self._ensure_sweeper()
        return ""

    def busy(self, conn: Closable) -> None:
        """A request head arrived: no deadline while the request runs."""
        self._waiting.pop(conn, None)

    def idle(self, conn: Closable) -> None:
        """A response finished: the next head is due within the deadline."""
        if conn in self._open:
            self._waiting[conn] = self._clock()
            self._waiting.move_to_end(conn)
            if self._sweeper is None:
                self._ensure_sweeper()

    def release(self, conn: Closable) -> None:
        """The connection is gone (idempotent)."""
        address = self._open.pop(conn, None)
        if address is None:
            return
        self._waiting.pop(conn, None)
        left = self._per_address[address] - 1
        if left > 0:
            self._per_address[address] = left
        else:
            del self._per_address[address]

    def sweep(self) -> int:
        """Close connections past the head deadline; returns how many."""
        cutoff = self._clock() - self.limits.head_timeout
        closed = 0
        while self._waiting:
            conn, since = next(iter(self._waiting.items()))
            if since > cutoff:
                break
            self.release(conn)
            conn.close_idle()
            closed += 1
        return closed

    def _evict_oldest(self) -> bool:
        if not self._waiting:
            return False
        conn = next(iter(self._waiting))
        self.release(conn)
        conn.close_idle()
        # Rate-limited like every repeated warning (webapp/logs.py).
        log.warning("at the connection cap: closed the one waiting longest for a request")
        return True

    def _ensure_sweeper(self) -> None:
        if self._sweeper is None:
            period = min(1.0, self.limits.head_timeout / 4)
            self._sweeper = asyncio.get_running_loop().call_later(period, self._tick, period)

    def _tick(self, period: float) -> None:
        closed = self.sweep()
        if closed:
            log.debug("closed %d connections that sent no request head in time", closed)
        if self._waiting:
            self._sweeper = asyncio.get_running_loop().call_later(period, self._tick, period)
        else:
            self._sweeper = None
