"""The access log's fast path writes exactly the line the logging set-up would write."""

from __future__ import annotations

import io
import logging

import pytest

from webapp import access_log, logs


@pytest.fixture
def text_logs():
    """logs.configure("info", "text") writing to a buffer; the old set-up restored after."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logs._plain)
    logs.configure("info", "text")
    buffer = io.StringIO()
    root.handlers[0].setStream(buffer)
    yield buffer
    root.handlers[:], level, logs._plain = saved
    root.setLevel(level)


def only_ours() -> None:
    """Drop the handlers pytest adds to the root for each test phase (the fast path
    rightly steps aside while they are there)."""
    logging.getLogger().handlers[:] = [logs._plain[0]]


def scope(path: str) -> dict:
    return {"client": ("203.0.113.7", 5000), "method": "GET", "path": path}


def test_info_line_is_what_the_formatter_writes():
    formatter = logs.TextFormatter()
    for created in (1_800_000_000.0, 1_800_000_000.999, 1_800_000_001.0005):
        record = logging.LogRecord("webapp.access", logging.INFO, "", 0, "a 100% line", (), None)
        record.created, record.msecs = created, int((created - int(created)) * 1000) + 0.0
        expected = formatter.format(record)
        assert logs.TextFormatter().info_line(created, "webapp.access", "a 100% line") == expected


def test_fast_path_writes_the_masked_line(text_logs):
    key = "at_" + "A" * 49
    only_ours()
    assert logs.write_info(logging.getLogger("webapp.access"), "first")
    access_log.note(scope(f"/api/v1/x/{key}"), 404, 0.0)
    first, line = text_logs.getvalue().splitlines(keepends=True)
    assert first.endswith(" INFO webapp.access first\n")
    assert line.endswith("\n")
    assert " INFO webapp.access 203.0.113.7 GET /api/v1/x/at_… 404 " in line
    assert key not in line


def test_other_set_ups_take_the_ordinary_path(text_logs, caplog):
    assert not logs.write_info(logging.getLogger("webapp.access"), "x")  # caplog's handler
    with caplog.at_level(logging.INFO, logger="webapp.access"):
        access_log.note(scope("/healthz"), 200, 0.0)
    assert "203.0.113.7 GET /healthz 200" in caplog.text


def test_fast_path_off_for_json_and_below_info(text_logs):
    access = logging.getLogger("webapp.access")
    only_ours()
    assert logs.write_info(access, "one")
    logging.getLogger().setLevel(logging.WARNING)
    assert not logs.write_info(access, "two")
    logging.getLogger().setLevel(logging.INFO)
    logs.configure("info", "json")
    assert not logs.write_info(access, "three")
    assert "one" in text_logs.getvalue() and "two" not in text_logs.getvalue()
