"""The 2FA QR code as a phone's camera sees it: a screenshot of the real page.

The code is read from a screenshot of the Security page itself (stylesheet, layout and
all) at desktop and phone sizes, at 1× where every pixel counts, and must decode to the
same ``otpauth://`` URI as the secret typed under "Can't scan it?".
"""

import os
import shutil
import subprocess

import pytest
from playwright.async_api import expect

from tests.e2e.flows import register
from webapp import totp

ZBARIMG = shutil.which("zbarimg")


@pytest.mark.parametrize("size", [(1280, 800), (375, 812)])
async def test_qr_in_the_page_scans_to_the_typed_secret(page, server, size, tmp_path):
    if ZBARIMG is None:
        if os.environ.get("CI"):
            pytest.fail("zbarimg is required in CI")
        pytest.skip("zbarimg (Debian zbar-tools) is not installed")
    await page.set_viewport_size({"width": size[0], "height": size[1]})
    await register(page, server)
    section = page.locator("#twofactor")
    await section.get_by_role("button", name="Set up 2FA").click()
    qr = section.locator(".qr svg")
    await expect(qr).to_be_visible()
    await section.get_by_text("Can't scan it?").click()
    secret = (await section.locator("#totp-secret").inner_text()).replace(" ", "")

    # The whole code, quiet zone included, is drawn inside its white frame.
    await qr.scroll_into_view_if_needed()
    svg_box = await qr.bounding_box()
    frame_box = await section.locator(".qr").bounding_box()
    assert svg_box and frame_box
    assert svg_box["x"] >= frame_box["x"] and svg_box["y"] >= frame_box["y"]
    assert svg_box["x"] + svg_box["width"] <= frame_box["x"] + frame_box["width"] + 0.5
    assert svg_box["y"] + svg_box["height"] <= frame_box["y"] + frame_box["height"] + 0.5
    assert svg_box["width"] >= 150, "too small to scan from a screen"

    shot = tmp_path / f"page-{size[0]}.png"
    await page.screenshot(path=str(shot))  # the viewport, as the trader sees it
    decoded = subprocess.run(
        [ZBARIMG, "--quiet", "--raw", str(shot)], capture_output=True, text=True, timeout=60
    )
    assert decoded.returncode == 0, f"zbarimg found no QR code in {shot}: {decoded.stderr}"
    assert decoded.stdout.strip() == totp.provisioning_uri(secret, "alice", "AutoTrader")
