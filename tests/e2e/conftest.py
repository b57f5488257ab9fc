"""Browser suite: the real server (README's command) driven by Playwright in Debian's Chromium.

On a failure the test's screenshot and page HTML are saved under ``test-artifacts/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.flows import CHROMIUM, CHROMIUM_ARGS, REVEAL_SECONDS
from tests.live_server import ROOT, running_server

ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """``python -m webapp serve`` on a free port with a fresh data directory."""
    with running_server(tmp_path, AUTOTRADER_REVEAL_SECONDS=str(REVEAL_SECONDS)) as base:
        yield base


@pytest.fixture
async def browser():
    """A headless Chromium (async Playwright, so it shares pytest-asyncio's loop)."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI")
        pytest.skip("Debian's chromium is not installed (scripts/test installs it as root)")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        instance = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        await instance.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
async def page(browser, request, server):
    """A fresh browser context (no cookies) and page; artefacts saved on failure."""
    context = await browser.new_context(
        viewport={"width": 1280, "height": 800}, accept_downloads=True
    )
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    tab = await context.new_page()
    tab.set_default_timeout(15_000)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    yield tab
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = request.node.name.replace("/", "_")
        await tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        (ARTIFACTS / f"{name}.html").write_text(await tab.content())
    await context.close()
    assert not errors, f"page errors or CSP violations: {errors}"
