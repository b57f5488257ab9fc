"""The few lines ``serve`` prints at start: the address to open, the data, how to stop."""

from __future__ import annotations

import asyncio
import ipaddress

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from webapp.config import Settings

ANY_ADDRESS = {"0.0.0.0", "::", ""}  # noqa: S104  (names, compared, never bound here)


def base_url(host: str, port: int) -> str:
    """The address a browser on this machine opens for ``host:port``."""
    if host in ANY_ADDRESS:
        host = "127.0.0.1"
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass  # a host name
    return f"http://{host}:{port}"


async def has_users(settings: Settings) -> bool:
    """Whether anyone has registered yet (else the banner points at /register)."""
    from webapp import db as database
    from webapp.models import User

    engine = database.make_engine(settings.resolved_database_url)
    try:
        async with engine.connect() as conn:
            count = await conn.scalar(select(func.count()).select_from(User))
            return bool(count)
    finally:
        await engine.dispose()


def text(settings: Settings, users_exist: bool) -> str:
    """The banner: one line to open, one for the data, one to stop."""
    url = base_url(settings.host, settings.port)
    if users_exist:
        open_line = f"  Open      {url}/login"
    else:
        open_line = f"  Open      {url}/register   (no account yet: create the first one)"
    if settings.host in ANY_ADDRESS:
        open_line += f"\n            listening on every address ({settings.host or 'all'})"
    lines = ["AutoTrader Security is running.", open_line]
    lines.append(f"  Data      {settings.data_dir.resolve()}")
    if settings.database_url:  # never print a database password
        shown = make_url(settings.database_url).render_as_string(hide_password=True)
        lines.append(f"  Database  {shown}")
    lines.append("  Stop      press Ctrl+C")
    return "\n".join(lines)


def show(settings: Settings) -> None:
    """Print the banner (after the schema check, before the server starts); JSON logs
    are for machines, so they get none."""
    if settings.log_format == "json":
        return
    print(text(settings, asyncio.run(has_users(settings))), flush=True)
