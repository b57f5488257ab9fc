"""Logging set-up: plain lines or JSON lines (AUTOTRADER_LOG_FORMAT=json).

What gets logged is chosen so that no secret can appear: request lines carry the
path without the query string; security events carry kind, user id and address.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
QUIET = ("sqlalchemy", "aiosqlite", "asyncpg", "alembic", "multipart", "python_multipart")
# Libraries whose INFO lines are chatter at start-up (Alembic's migration steps,
# uvicorn's "Started server process"): shown only at AUTOTRADER_LOG_LEVEL=debug.
CHATTY = ("alembic", "uvicorn.error")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = record.exc_info[0].__name__ if record.exc_info[0] else "error"
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str, fmt: str) -> None:
    """Send the app's and uvicorn's logs to stderr in the chosen format."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Even at debug level: SQL and driver chatter carry hashes, digests, ciphertexts
    # and session ids as parameters, so those loggers stay at warnings.
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    quiet = level.upper() != "DEBUG"
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING if quiet else logging.NOTSET)


def server_level(level: str) -> str:
    """uvicorn's own level: its start-up INFO lines are chatter unless debugging."""
    return "warning" if level == "info" else level
