"""Online backup of the SQLite database: a consistent copy while the app runs."""

from __future__ import annotations

import errno
import os
import sqlite3
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url

from webapp.config import Settings


class BackupError(ValueError):
    """The backup cannot be written (the message says what to do); nothing was left behind."""


def _why(exc: BaseException, folder: Path) -> str:
    code = getattr(exc, "errno", None)
    if code == errno.ENOSPC or "full" in str(exc):
        return f"The disk holding {folder} is full: free some space or choose another folder"
    if code == errno.EROFS or "readonly" in str(exc).replace("-", ""):
        return f"{folder} is on a read-only file system: choose a writable folder"
    if code == errno.EACCES:
        return f"This user cannot write to {folder}: choose a folder it may write to"
    return f"Writing to {folder} failed ({getattr(exc, 'strerror', None) or exc}): check the disk"


def check_source(settings: Settings) -> Path:
    """The SQLite file to back up; refuses PostgreSQL and a missing file."""
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        raise BackupError("backup copies SQLite databases; for PostgreSQL use pg_dump")
    source = Path(url.database)
    if not source.exists():
        raise BackupError(f"There is no database at {source}: check --data-dir")
    return source


def backup(settings: Settings, target: Path) -> str:
    """Copy the database to ``target`` (mode 0600) with SQLite's online backup API."""
    source = check_source(settings)
    folder = target.parent.resolve()
    if not folder.is_dir():
        raise BackupError(f"The folder {folder} does not exist: create it or choose another")
    if target.exists():
        raise BackupError(f"{target} exists; choose a new file name")
    try:
        # A name of its own: never reuse (or clobber) a partial file someone left here.
        fd, name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".partial")
    except OSError as exc:
        raise BackupError(_why(exc, folder) + "; no backup was written") from None
    os.close(fd)
    partial = Path(name)
    try:
        tables = _copy(source, partial)
        os.link(partial, target)  # fails, rather than overwrite, if target appeared meanwhile
    except FileExistsError:
        raise BackupError(f"{target} exists; choose a new file name") from None
    except (OSError, sqlite3.Error) as exc:
        raise BackupError(_why(exc, folder) + "; no backup was written") from None
    finally:
        for leftover in (partial, Path(f"{partial}-journal")):
            leftover.unlink(missing_ok=True)
    size = target.stat().st_size
    return (
        f"Backed up {source} to {target} ({size} bytes, {tables} tables). "
        "It is useless without the master key: keep the key file or AUTOTRADER_MASTER_KEYS "
        "somewhere else."
    )


def _copy(source: Path, partial: Path) -> int:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(partial)
    try:
        with dst:
            src.backup(dst)  # pages copied under SQLite's own locking: a consistent snapshot
        tables = dst.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()
        return int(tables[0])
    finally:
        src.close()
        dst.close()
