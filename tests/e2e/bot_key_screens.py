"""Screenshots of the bot keys for the README: ``python -m tests.e2e.bot_key_screens OUT_DIR``.

Starts the real server on a fresh data folder, signs up, adds three named keys (one
limited to this machine, one expiring within the week, one for another address), makes
a few API calls, re-generates one key with a 24-hour grace period, and saves
``api-keys.png`` (the key sections at 1280×800) and ``api-key-detail-phone.png`` (a key's
detail page at 375×812, full page).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from playwright.async_api import async_playwright, expect

from tests.e2e.flows import CHROMIUM, CHROMIUM_ARGS, create_bot_key, register, submit_modal
from tests.live_server import running_server


async def shoot(base: str, out: Path) -> list[Path]:
    """Set the keys up and take both screenshots."""
    soon = (datetime.now(UTC) + timedelta(days=5)).strftime("%Y-%m-%d")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        await register(page, base, "trader")
        bot = await create_bot_key(page, "VPS bot", allow="127.0.0.1\n2001:db8::/32")
        await page.reload()
        await create_bot_key(page, "Quarterly backtest", manage=True, expires=soon)
        await page.reload()
        await create_bot_key(page, "Office dashboard", allow="198.51.100.0/24")
        for path in ("/api/v1/me", "/api/v1/trading-accounts", "/api/v1/trading-accounts/7"):
            httpx.get(f"{base}{path}?page=2", headers={"api-key": bot})
        httpx.post(f"{base}/api/v1/trading-accounts", json={}, headers={"api-key": bot})
        time.sleep(1.5)  # the usage log is written about once a second
        await page.reload()
        await page.locator("#key-list").get_by_role("link", name="Details").first.click()
        box = page.locator("[id^=api-key-]").first
        await box.get_by_role("button", name="Re-generate").click()
        dialog = page.locator("dialog[open]")
        await dialog.get_by_label("The old key stops working").select_option("24h")
        await dialog.get_by_role("checkbox").check()
        if await dialog.locator("#stepup-password").count():
            await submit_modal(page)
        else:
            await dialog.locator("button[type=submit]").click()
        await expect(page.locator("[id$=-value]")).to_be_visible()
        detail_url = page.url

        await page.goto(f"{base}/settings/security")
        top = await page.locator("#api").bounding_box()
        bottom = await page.locator("#named-keys").bounding_box()
        assert top and bottom
        keys_path = out / "api-keys.png"
        clip = {
            "x": 0,
            "y": top["y"] - 16,
            "width": 1280,
            "height": bottom["y"] + bottom["height"] - top["y"] + 32,
        }
        await page.mouse.move(0, 0)
        await page.screenshot(path=str(keys_path), full_page=True, clip=clip)

        await page.set_viewport_size({"width": 375, "height": 812})
        await page.goto(detail_url)
        detail_path = out / "api-key-detail-phone.png"
        await page.screenshot(path=str(detail_path), full_page=True)
        await context.close()
        await browser.close()
    return [keys_path, detail_path]


async def main(out: Path) -> None:
    """Run a server and take the screenshots."""
    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as folder,
        running_server(Path(folder), AUTOTRADER_COOKIE_SECURE="true") as base,
    ):
        for path in await shoot(base, out):
            print(path)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
