"""The connection gate and the log filter that keep a flood from taking the server down."""

from __future__ import annotations

import logging

from webapp.connections import ConnectionGate, Limits, default_max_connections
from webapp.logs import RepeatFilter
from webapp.security.proxies import parse_networks


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Conn:
    """A stand-in connection that records being closed."""

    def __init__(self) -> None:
        self.closed = False

    def close_idle(self) -> None:
        self.closed = True


def _gate(total=4, per_address=2, head_timeout=10.0, trusted="") -> tuple[ConnectionGate, Clock]:
    clock = Clock()
    limits = Limits(total, per_address, head_timeout, parse_networks(trusted))
    return ConnectionGate(limits, clock), clock


async def test_one_address_is_capped_but_a_trusted_proxy_is_not() -> None:
    gate, _ = _gate(per_address=2, trusted="10.0.0.1")
    assert [gate.admit(Conn(), "192.0.2.7") for _ in range(3)] == ["", "", "per-address"]
    assert gate.admit(Conn(), "192.0.2.8") == ""
    assert gate.admit(Conn(), "10.0.0.1") == ""
    assert gate.open_count == 4


async def test_at_the_cap_the_longest_waiting_connection_makes_room() -> None:
    gate, clock = _gate(total=2, per_address=0)
    silent, busy, newcomer = Conn(), Conn(), Conn()
    gate.admit(silent, "192.0.2.1")
    clock.now += 1
    gate.admit(busy, "192.0.2.2")
    gate.busy(busy)  # its request head arrived
    assert gate.admit(newcomer, "192.0.2.3") == ""
    assert silent.closed and not busy.closed
    gate.busy(newcomer)
    assert gate.admit(Conn(), "192.0.2.4") == "total"  # everyone is busy: refuse


async def test_a_connection_without_a_request_head_is_closed_at_the_deadline() -> None:
    gate, clock = _gate(head_timeout=10)
    silent, served = Conn(), Conn()
    gate.admit(silent, "192.0.2.1")
    gate.admit(served, "192.0.2.2")
    gate.busy(served)
    clock.now += 9
    gate.idle(served)  # answered; its next head is due in 10 s from now
    assert gate.sweep() == 0
    clock.now += 1
    assert gate.sweep() == 1 and silent.closed and not served.closed
    clock.now += 10
    assert gate.sweep() == 1 and served.closed
    assert gate.open_count == 0


async def test_release_forgets_a_connection_once() -> None:
    gate, _ = _gate(per_address=1)
    conn = Conn()
    gate.admit(conn, "192.0.2.1")
    gate.release(conn)
    gate.release(conn)
    assert gate.admit(Conn(), "192.0.2.1") == ""


def test_the_default_cap_leaves_descriptors_spare() -> None:
    assert default_max_connections(1024) == 720
    assert default_max_connections(1_048_576) == 4096
    assert default_max_connections(100) == 27


def _record(message: str, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("asyncio", level, __file__, 1, message, None, None)


def test_repeated_errors_are_summarised_once_a_minute() -> None:
    clock, emitted = Clock(), []
    repeats = RepeatFilter(emitted.append, burst=3, window=60, clock=clock)
    passed = [
        repeats.filter(_record("socket.accept() out of system resource")) for _ in range(6000)
    ]
    assert passed.count(True) == 3
    assert repeats.filter(_record("another error"))  # a different message has its own count
    assert all(repeats.filter(_record(f"GET /{i}", logging.INFO)) for i in range(10))
    clock.now += 60
    assert repeats.filter(_record("GET /", logging.INFO))
    [summary] = emitted
    assert summary.getMessage() == (
        "… 'socket.accept() out of system resource' repeated 5997 more times in the last minute"
    )
    assert repeats.filter(summary)
    assert repeats.filter(_record("socket.accept() out of system resource"))  # a new window
