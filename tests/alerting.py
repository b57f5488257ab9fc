"""Helpers for the alert tests: a real SMTP server, reading messages, adding an address."""

from __future__ import annotations

import re
import socket
import stat
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller

from tests.helpers import PASSWORD, Trader
from webapp.alerts import delivery

LOCK_LINK = re.compile(r"https?://\S+/lock\?t=([A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])")
CONFIRM_LINK = re.compile(r"https?://\S+/email/confirm\?t=([A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])")
ADDRESS = "trader.one@example.com"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope) -> str:
        """Store the message; accept it."""
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def take(self) -> list[tuple[list[str], EmailMessage]]:
        """The messages received since the last call."""
        with self.lock:
            taken, self.messages = self.messages, []
        return taken


class SmtpServer:
    """A real SMTP server on localhost, in its own thread, for one test."""

    def __init__(self, port: int | None = None) -> None:
        self.inbox = Inbox()
        self.port = port or free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        """The AUTOTRADER_SMTP_URL for this server."""
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Listen."""
        self.controller.start()

    def stop(self) -> None:
        """Stop listening."""
        self.controller.stop()


def eml_files(data_dir: Path) -> list[Path]:
    """The messages written to the outbox folder, oldest first."""
    folder = data_dir / "outbox"
    return (
        sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns) if folder.exists() else []
    )


def read_eml(path: Path) -> EmailMessage:
    """One .eml file as a message (checking it is private to the app's user)."""
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    return message_from_bytes(path.read_bytes(), policy=policy.default)


def body(message: EmailMessage) -> str:
    """The plain-text body."""
    part = message.get_body(("plain",))
    assert part is not None
    return part.get_content()


def token_in(message: EmailMessage, pattern: re.Pattern[str]) -> str:
    """The link token a message carries."""
    found = pattern.search(body(message))
    assert found, body(message)
    return found.group(1)


async def confirm(trader: Trader, token: str) -> int:
    """Follow a confirmation link as a browser does: open it, press Confirm."""
    await trader.page(f"/email/confirm?t={token}")
    response = await trader.form("/email/confirm", {"t": token})
    return response.status_code


async def add_address(trader: Trader, app, data_dir: Path, address: str = ADDRESS, code: str = ""):
    """Add an alert address through the Security page and confirm it (outbox default)."""
    before = len(eml_files(data_dir))
    await trader.page("/settings/security")
    asked = await trader.hx(
        "POST", "/settings/security/email", {"email": address, "password": PASSWORD, "code": code}
    )
    assert asked.status_code == 200, asked.text
    await delivery.deliver_due(app.state.ctx)
    sent = [read_eml(p) for p in eml_files(data_dir)[before:]]
    [confirmation] = [m for m in sent if m["To"] == address and CONFIRM_LINK.search(body(m))]
    token = token_in(confirmation, CONFIRM_LINK)
    assert await confirm(trader, token) == 200
    await trader.page("/settings/security")
    return token
