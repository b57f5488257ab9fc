"""Screenshots of the Security page for the README: ``python -m tests.e2e.screens OUT_DIR``.

Starts the real server on a fresh data folder, signs up, sets up 2FA (when the page
offers "I have saved them", i.e. after the redesign), reveals the key, and saves
full-page PNGs at 1280×800 and 375×812, light and dark; plus the 2FA set-up with its
QR code on a phone (``PREFIX-qr-phone.png``).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright, expect

from tests.e2e.flows import CHROMIUM, CHROMIUM_ARGS, enrol_2fa, register, submit_modal
from tests.live_server import running_server

SIZES = {"": (1280, 800), "-phone": (375, 812)}


async def shoot(base: str, out: Path, prefix: str, scheme: str = "light") -> list[Path]:
    """Sign up in each size and save the Security page with the key revealed."""
    saved: list[Path] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for n, (suffix, (width, height)) in enumerate(SIZES.items()):
            context = await browser.new_context(
                viewport={"width": width, "height": height}, color_scheme=scheme
            )
            page = await context.new_page()
            await register(page, base, f"trader{n}{scheme}")
            saved_button = page.get_by_role("button", name="I have saved them")
            if suffix == "-phone" and scheme == "light":
                await page.locator("#twofactor").get_by_role("button", name="Set up 2FA").click()
                await page.locator("#twofactor .qr").scroll_into_view_if_needed()
                qr_path = out / f"{prefix}-qr-phone.png"
                await page.screenshot(path=str(qr_path))
                saved.append(qr_path)
                await page.locator("#twofactor").get_by_role("button", name="Cancel set-up").click()
            await enrol_2fa(page)
            if await saved_button.count():
                await saved_button.click()
            await page.reload()
            await page.locator("#api-key").get_by_role("button", name="View").click()
            shown = page.locator("#api-key-value, dialog[open]").first
            await expect(shown).to_be_visible()
            if await page.locator("dialog[open]").count():  # no fresh step-up window
                await submit_modal(page)
            await expect(page.locator("#api-key-value")).to_be_visible()
            await page.mouse.move(0, 0)
            await page.evaluate("window.scrollTo(0, 0)")
            path = out / f"{prefix}{suffix}{'-dark' if scheme == 'dark' else ''}.png"
            await page.screenshot(path=str(path), full_page=True)
            saved.append(path)
            await context.close()
        await browser.close()
    return saved


async def main(out: Path, prefix: str) -> None:
    """Run a server and take every screenshot."""
    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as folder,
        running_server(Path(folder), AUTOTRADER_COOKIE_SECURE="true") as base,
    ):
        for scheme in ("light", "dark"):
            for path in await shoot(base, out, prefix, scheme):
                print(path)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "security"))
