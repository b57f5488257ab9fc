"""Logging set-up: plain lines or JSON lines (AUTOTRADER_LOG_FORMAT=json).

What gets logged is chosen so that no secret can appear: request lines carry the
path without the query string; security events carry kind, user id and address.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
QUIET = ("sqlalchemy", "aiosqlite", "asyncpg", "alembic", "multipart", "python_multipart")
# Libraries whose INFO lines are chatter at start-up (Alembic's migration steps,
# uvicorn's "Started server process"): shown only at AUTOTRADER_LOG_LEVEL=debug.
CHATTY = ("alembic", "uvicorn.error")
REPEAT_BURST = 3  # identical warnings/errors let through per window before summarising
REPEAT_WINDOW = 60.0  # seconds
_NO_LOCK = contextlib.nullcontext()
_Key = tuple[str, int, str, str]
_Origin = tuple[str, int, str, int]  # logger name, level, path, line


class RepeatFilter(logging.Filter):
    """Rate-limit identical warnings and errors, then summarise what was held back.

    A flood (accept failures, refused connections, malformed requests) repeats one
    message thousands of times a second; written out, it fills the disk. Per key
    (logger, level, message template, exception type) the first few records of each
    window pass; the rest are counted and reported as one line once the window ends.
    Records below WARNING (the access log) pass untouched.
    """

    def __init__(
        self,
        emit: Callable[[logging.LogRecord], object],
        burst: int = REPEAT_BURST,
        window: float = REPEAT_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._emit = emit
        self._burst = burst
        self._window = window
        self._clock = clock
        self._seen: dict[_Key, list[Any]] = {}  # key -> [window start, passed, held back, origin]

    def filter(self, record: logging.LogRecord) -> bool:
        """True to write the record; False to count it instead."""
        if getattr(record, "repeat_summary", False):
            return True
        now = self._clock()
        if self._seen:
            self._flush(now)
        if record.levelno < logging.WARNING:
            return True
        exc = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        key = (record.name, record.levelno, str(record.msg), exc)
        entry = self._seen.get(key)
        if entry is None:
            # Keep what the summary needs, not the record (its traceback holds frames).
            origin = (record.name, record.levelno, record.pathname, record.lineno)
            self._seen[key] = [now, 1, 0, origin]
            return True
        if entry[1] < self._burst:
            entry[1] += 1
            return True
        entry[2] += 1
        return False

    def tick(self) -> None:
        """What :meth:`filter` does for a record below WARNING, without the record:
        summarise the windows that ended (the access log's fast path calls this)."""
        if self._seen:
            self._flush(self._clock())

    def _flush(self, now: float) -> None:
        for key, (start, _passed, held, origin) in list(self._seen.items()):
            if now - start < self._window:
                continue
            # pop, not del: records may come from worker threads flushing the same key.
            if self._seen.pop(key, None) is not None and held:
                self._emit(_summary(origin, key[2], held, self._window))


def _summary(origin: _Origin, message: str, held: int, window: float) -> logging.LogRecord:
    name, level, pathname, lineno = origin
    first_line = message.splitlines()[0] if message else ""
    period = "minute" if window == 60 else f"{window:.0f} s"
    summary = logging.LogRecord(
        name,
        level,
        pathname,
        lineno,
        "… %r repeated %d more times in the last %s",
        (first_line[:200], held, period),
        None,
    )
    summary.repeat_summary = True
    return summary


class TextFormatter(logging.Formatter):
    """The text format; the date and time part of a stamp is made once per second.

    Every request writes an access-log line, and ``strftime`` was a fifth of its cost.
    Formatting runs under the handler's lock, so the cached second is never torn.
    """

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """``2026-11-28 12:00:00,123``, as logging.Formatter writes it."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            self._stamp = time.strftime(self.default_time_format, self.converter(second))
            self._second = second
        return (self.default_msec_format or "%s,%03d") % (self._stamp, record.msecs)

    def info_line(self, created: float, name: str, message: str) -> str:
        """The line :meth:`format` writes for an INFO record of ``name`` made at
        ``created`` with this (already formatted) message, without building the record."""
        msecs = int((created - int(created)) * 1000) + 0.0  # as LogRecord computes it
        second = int(created)
        if second != self._second:
            self._stamp = time.strftime(self.default_time_format, self.converter(second))
            self._second = second
        stamp = (self.default_msec_format or "%s,%03d") % (self._stamp, msecs)
        return f"{stamp} INFO {name} {message}"


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
    # Skip caller, thread and process look-ups that no format here prints: they cost
    # a few microseconds on every access-log line (the logging docs' "Optimization").
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    repeat = RepeatFilter(handler.handle)
    handler.addFilter(repeat)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    global _plain
    _plain = (handler, handler.formatter, repeat) if fmt != "json" else None
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


# The handler, formatter and filter configure() installed for text lines; None for JSON.
_plain: tuple[logging.StreamHandler[Any], logging.Formatter | None, RepeatFilter] | None = None


def write_info(logger: logging.Logger, message: str) -> bool:
    """Write an INFO line for ``logger`` straight to the text handler configure() set up,
    when that is all the logging set-up would do with it; False otherwise (the caller
    then logs as usual).

    A log record costs about as much as the rest of an API call. When no logger on the
    way to the root has a handler or filter of its own and the root has only ours, the
    line written is the one the handler would write: same stamp, level, name and
    message, same filter bookkeeping, same lock. Anything else (JSON, pytest's caplog,
    an operator's extra handler, a disabled logger) takes the ordinary path.
    """
    plain = _plain
    if plain is None:
        return False
    handler, formatter, repeat = plain
    node: logging.Logger | None = logger
    while node is not None and node.parent is not None:  # up to, not including, the root
        if node.handlers or node.filters or not node.propagate or node.disabled:
            return False
        node = node.parent
    root = logging.root
    if (
        node is not root
        or root.handlers != [handler]
        or root.filters
        or root.disabled
        or handler.filters != [repeat]
        or handler.formatter is not formatter
        or not isinstance(formatter, TextFormatter)
        or handler.level > logging.INFO
        or not logger.isEnabledFor(logging.INFO)
    ):
        return False
    line = formatter.info_line(time.time(), logger.name, message)
    repeat.tick()
    with handler.lock or _NO_LOCK:
        try:
            handler.stream.write(line + handler.terminator)
            handler.flush()
        except Exception:
            handler.handleError(
                logger.makeRecord(logger.name, logging.INFO, "", 0, message, (), None)
            )
    return True
