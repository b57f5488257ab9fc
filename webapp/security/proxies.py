"""Trust X-Forwarded-For / X-Forwarded-Proto only from the proxies the operator lists.

Behind a TLS-terminating reverse proxy the app sees the proxy's address; the real
client's is in X-Forwarded-For. Anyone can send that header, so it is read only when
the request comes from an address in AUTOTRADER_TRUSTED_PROXIES, and then the client
is the right-most address in the chain that is not itself a trusted proxy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(spec: str) -> list[Network]:
    """Addresses or CIDR ranges, comma-separated; ValueError names a bad entry."""
    networks = []
    for entry in (e.strip() for e in spec.split(",")):
        if entry:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError as exc:
                raise ValueError(f"not an IP address or range: {entry!r}") from exc
    return networks


def _trusted(address: str, networks: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def _header(scope: Scope, name: bytes) -> str:
    values = [v.decode("latin-1") for k, v in scope["headers"] if k == name]
    return ",".join(values)


def forwarded(scope: Scope, trusted: list[Network]) -> Scope:
    """``scope`` with the client and scheme a trusted proxy forwarded (a copy), else as is."""
    peer = (scope.get("client") or ("", 0))[0]
    if not _trusted(peer, trusted):
        return scope
    scope = dict(scope)
    chain = [a.strip() for a in _header(scope, b"x-forwarded-for").split(",") if a.strip()]
    for address in reversed(chain):
        if not _trusted(address, trusted):
            try:
                ipaddress.ip_address(address)
            except ValueError:
                break  # garbage in the header: keep the proxy's own address
            scope["client"] = (address, 0)
            break
    proto = _header(scope, b"x-forwarded-proto").split(",")[-1].strip().lower()
    if proto in ("http", "https"):
        scope["scheme"] = proto
    return scope


class TrustedProxyMiddleware:
    """Rewrite the client address and scheme from a trusted proxy's headers."""

    def __init__(self, app: ASGIApp, trusted: list[Network]) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Apply forwarded headers when the direct peer is a trusted proxy."""
        if scope["type"] == "http" and self.trusted:
            scope = forwarded(scope, self.trusted)
        await self.app(scope, receive, send)
