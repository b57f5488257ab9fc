"""Send one message through the SMTP server of ``AUTOTRADER_SMTP_URL`` (blocking).

``smtp://user:pass@host:port`` upgrades with STARTTLS whenever the server offers it;
``smtps://`` speaks TLS from the first byte. Certificates are verified. The password
is never sent over a connection that is not encrypted, except to this very machine.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

TIMEOUT_SECONDS = 20
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


@dataclass(frozen=True)
class Server:
    """Where and how to deliver."""

    host: str
    port: int
    tls: bool  # smtps: TLS from the start
    user: str = ""
    password: str = field(default="", repr=False)


def parse_url(url: str) -> Server | None:
    """The server of an SMTP URL (None for ""); ValueError says what is wrong."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("it must start with smtp:// or smtps://")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError("its port is not a number from 1 to 65535") from exc
    if not parts.hostname:
        raise ValueError("it names no host")
    tls = parts.scheme == "smtps"
    return Server(
        host=parts.hostname,
        port=port or (465 if tls else 587),
        tls=tls,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )


class InsecureLogin(Exception):
    """The server offers no TLS, and the password would cross the network in clear."""


def send(server: Server, message: EmailMessage) -> None:
    """Deliver ``message`` (raises on any failure; the caller retries)."""
    context = ssl.create_default_context()
    if server.tls:
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            server.host, server.port, timeout=TIMEOUT_SECONDS, context=context
        )
    else:
        client = smtplib.SMTP(server.host, server.port, timeout=TIMEOUT_SECONDS)
    with client:
        client.ehlo()
        encrypted = server.tls
        if not encrypted and client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
            encrypted = True
        if server.user:
            if not encrypted and server.host not in _LOOPBACK:
                raise InsecureLogin(server.host)
            client.login(server.user, server.password)
        client.send_message(message)
