"""The text of each message: what happened, when, from where, what to do; no secret.

A message never holds a key, a key fragment, a code or a credential. The only link
token it carries is made here, at delivery, and stored as a hash (lock: 7 days,
confirm an address: 24 hours), so the outbox itself holds nothing that works.
"""

from __future__ import annotations

import textwrap
import time
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from sqlmodel.ext.asyncio.session import AsyncSession

from webapp import activity
from webapp.alerts import address, catalog
from webapp.config import Settings
from webapp.models import MailOutbox, User, id_of
from webapp.repositories import mail
from webapp.vault import KeyRing

LOCK_DAYS = 7
CONFIRM_HOURS = 24
LOCK_SECONDS = LOCK_DAYS * 86400
CONFIRM_SECONDS = CONFIRM_HOURS * 3600
WIDTH = 72  # plain-text lines a mail client shows without wrapping


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))


def recipient(keys: KeyRing, row: MailOutbox, user: User) -> str:
    """Where the message goes: its own sealed address, else the user's confirmed one."""
    if row.recipient:
        return address.open_sealed(keys, row.recipient, "mail_outbox", row.id, "recipient")
    return address.of_user(keys, id_of(user), user.email)


def alert_body(settings: Settings, row: MailOutbox, user: User, to: str, lock_url: str) -> str:
    """The plain-text alert (the README shows a rendered one)."""
    alert = catalog.ALERTS[row.kind]
    lines = [
        f"Hello {user.username},",
        "",
        f"{alert.subject} — on your AutoTrader account.",
        "",
        f"When:     {_when(row.at)}",
        f"Address:  {row.ip or 'unknown'}",
        f"Browser:  {activity.browser(row.user_agent)}",
    ]
    if row.detail:
        lines.append(f"Details:  {row.detail}")
    lines += [
        "",
        textwrap.fill(alert.advice, WIDTH, break_on_hyphens=False),
        "",
        "Wasn't you? Lock my account:",
        lock_url,
        "",
        textwrap.fill(
            f"The link works once, for {LOCK_DAYS} days, without signing in. Locking "
            "suspends every API key, ends every session and freezes viewing keys and "
            "credentials until you unlock with your password (and 2FA code).",
            WIDTH,
            break_on_hyphens=False,
        ),
        "",
        "--",
        f"AutoTrader at {settings.link_base}",
        f"Sent to {address.masked(to)}, the alert address of this account.",
    ]
    if alert.switch:
        lines.append("You can turn this kind of alert off under Settings → Security.")
    return "\n".join(lines) + "\n"


def confirm_body(settings: Settings, user: User, confirm_url: str) -> str:
    """The message that confirms a new alert address."""
    return (
        f"Hello {user.username},\n\n"
        "Confirm this address for AutoTrader security alerts:\n"
        f"{confirm_url}\n\n"
        f"The link works once, for {CONFIRM_HOURS} hours. If you did not ask for this, "
        "ignore this message: nothing changes until the link is used.\n\n"
        f"--\nAutoTrader at {settings.link_base}\n"
    )


def subject(row: MailOutbox) -> str:
    """The Subject line."""
    if row.kind == catalog.CONFIRM_KIND:
        return "AutoTrader: confirm your alert email address"
    return f"AutoTrader security alert: {catalog.ALERTS[row.kind].subject}"


def build(
    db: AsyncSession, settings: Settings, keys: KeyRing, row: MailOutbox, user: User, now: float
) -> EmailMessage | None:
    """The message for ``row`` with a fresh link token (None when there is no address);
    the caller commits the token before sending."""
    to = recipient(keys, row, user)
    if not to:
        return None
    base = settings.link_base
    if row.kind == catalog.CONFIRM_KIND:
        token = mail.mint(db, "confirm", id_of(user), row.id, now)
        body = confirm_body(settings, user, f"{base}/email/confirm?t={token}")
    else:
        token = mail.mint(db, "lock", id_of(user), row.id, now)
        body = alert_body(settings, row, user, to, f"{base}/lock?t={token}")
    message = EmailMessage()
    message["Subject"] = subject(row)
    message["From"] = settings.mail_from
    local, _, domain = to.rpartition("@")
    message["To"] = Address(addr_spec=f"{local}@{domain}")
    message["Date"] = format_datetime(datetime.fromtimestamp(now, UTC))
    sender_domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=sender_domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)
    return message
