"""Online backup of the SQLite database: a consistent copy while the app runs."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from webapp.config import Settings


def backup(settings: Settings, target: Path) -> str:
    """Copy the database to ``target`` (mode 0600) with SQLite's online backup API."""
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        raise ValueError("backup copies SQLite databases; for PostgreSQL use pg_dump")
    source = Path(url.database)
    if not source.exists():
        raise ValueError(f"no database at {source}")
    if target.exists():
        raise ValueError(f"{target} exists; choose a new file name")
    partial = target.with_name(target.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(partial)
    try:
        with dst:
            src.backup(dst)  # pages copied under SQLite's own locking: a consistent snapshot
        tables = dst.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
    finally:
        src.close()
        dst.close()
    os.replace(partial, target)
    size = target.stat().st_size
    return (
        f"Backed up {source} to {target} ({size} bytes, {tables} tables). "
        "It is useless without the master key: keep the key file or AUTOTRADER_MASTER_KEYS "
        "somewhere else."
    )
