"""CSRF on every unsafe browser request; security headers and no-store everywhere."""

import pytest

from tests.helpers import PASSWORD, Trader


async def test_form_without_token_is_refused(client):
    await client.get("/register")
    response = await client.post("/register", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert "Reload the page" in response.text


async def test_form_with_wrong_token_is_refused(client):
    await client.get("/register")
    data = {"csrf_token": "x" * 43, "username": "alice", "password": PASSWORD}
    assert (await client.post("/register", data=data)).status_code == 403


async def test_post_without_any_session_is_refused(client):
    data = {"csrf_token": "x" * 43, "username": "alice", "password": PASSWORD}
    assert (await client.post("/login", data=data)).status_code == 403


async def test_cross_site_fetch_metadata_is_refused(client):
    t = Trader(client)
    await t.page("/register")
    response = await client.post(
        "/register",
        data={"csrf_token": t.csrf, "username": "alice", "password": PASSWORD},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 403
    assert "Cross-site" in response.text


async def test_htmx_header_token_is_accepted_and_checked(trader):
    ok = await trader.hx("POST", "/settings/security/api-key/view", {})
    assert ok.status_code == 200
    trader.csrf = "wrong-token-" * 4
    refused = await trader.hx("POST", "/settings/security/api-key/view", {})
    assert refused.status_code == 403


async def test_logout_needs_the_token(client, trader):
    response = await client.post("/logout", data={})
    assert response.status_code == 403
    assert (await client.get("/settings/security")).status_code == 200


async def test_token_lives_in_session_and_page(client):
    t = Trader(client)
    page = await t.page("/login")
    assert t.csrf and t.csrf in page.text


async def test_oversized_body_is_413(client):
    t = Trader(client)
    await t.page("/login")
    response = await t.form("/login", {"username": "alice", "password": "p" * 300_000})
    assert response.status_code == 413


CSP_PARTS = [
    "default-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
]


def assert_security_headers(response, no_store=True):
    csp = response.headers["content-security-policy"]
    for part in CSP_PARTS:
        assert part in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"]
    assert response.headers["cross-origin-opener-policy"] == "same-origin"
    assert "max-age" in response.headers["strict-transport-security"]  # https in tests
    if no_store:
        assert response.headers["cache-control"] == "no-store"


async def test_headers_on_pages_partials_api_and_errors(client, trader):
    assert_security_headers(await client.get("/settings/security"))
    assert_security_headers(await client.get("/login"))
    assert_security_headers(await trader.hx("GET", "/settings/security/api-key/masked"))
    assert_security_headers(await trader.view_key())
    assert_security_headers(await client.get("/api/v1/me"))
    assert_security_headers(await client.get("/nope"))
    assert_security_headers(await client.get("/healthz"))


async def test_static_files_have_headers_but_may_be_cached(client):
    response = await client.get("/static/app.css")
    assert response.status_code == 200
    assert_security_headers(response, no_store=False)
    assert response.headers["cache-control"] == "no-cache"


async def test_no_hsts_over_plain_http(app):
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        response = await c.get("/healthz")
    assert "strict-transport-security" not in response.headers


@pytest.mark.parametrize("path", ["/login", "/register"])
async def test_pages_have_no_inline_script_or_style(client, path):
    html = (await client.get(path)).text
    assert "<script>" not in html and "style=" not in html and "<style" not in html
    assert "<script src=" in html


async def test_security_page_has_no_inline_script_or_style(client, trader):
    html = (await client.get("/settings/security")).text
    assert "<script>" not in html and "style=" not in html and "<style" not in html


async def test_htmx_is_vendored_with_recorded_hash(client):
    import hashlib
    from pathlib import Path

    from webapp.templating import STATIC_DIR

    body = (await client.get("/static/vendor/htmx.min.js")).content
    recorded = Path(STATIC_DIR / "vendor" / "htmx.min.js.sha256").read_text().split()[0]
    assert hashlib.sha256(body).hexdigest() == recorded
    assert b'version:"2.0.11"' in body.replace(b" ", b"")


async def test_htmx_config(client):
    import json
    import re

    html = (await client.get("/login")).text
    raw = re.search(r"name=\"htmx-config\" content='([^']+)'", html).group(1)
    config = json.loads(raw)
    assert config["historyCacheSize"] == 0
    assert config["includeIndicatorStyles"] is False
    assert config["allowEval"] is False
    assert config["selfRequestsOnly"] is True
    assert {"code": "422", "swap": True, "error": False} in config["responseHandling"]


async def test_static_files_are_gzipped_but_pages_are_not(client, trader):
    js = await client.get("/static/vendor/htmx.min.js", headers={"Accept-Encoding": "gzip"})
    assert js.headers["content-encoding"] == "gzip"
    page = await client.get("/settings/security", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in page.headers
