"""Bad input anywhere: a clear message, a 4xx, nothing changed, never a 500."""

import json

import pytest

from tests.helpers import PASSWORD, snapshot

BIG = "x" * 100_000


def encoded(pairs) -> bytes:
    from urllib.parse import urlencode

    return urlencode(pairs).encode()


FORM = "application/x-www-form-urlencoded"

# (path, content type, body builder taking the csrf token), for signed-out forms.
ANONYMOUS_CASES = [
    ("/register", FORM, lambda t: encoded([("csrf_token", t)])),
    ("/register", FORM, lambda t: encoded([("csrf_token", t), ("username", ""), ("password", "")])),
    (
        "/register",
        FORM,
        lambda t: encoded(
            [("csrf_token", t), ("username", "a"), ("username", "b"), ("password", PASSWORD)]
        ),
    ),
    ("/register", FORM, lambda t: encoded([("csrf_token", t), ("username", BIG)])),
    (
        "/register",
        FORM,
        lambda t: encoded([("csrf_token", t), ("username", "zoë✓"), ("password", PASSWORD)]),
    ),
    ("/register", "application/json", lambda t: json.dumps({"username": "x"}).encode()),
    ("/register", FORM, lambda t: b"csrf_token=" + t.encode() + b"&username=%ZZ%&password"),
    ("/register", "multipart/form-data; boundary=zz", lambda t: b"--zz\r\nbroken"),
    ("/login", FORM, lambda t: encoded([("csrf_token", t)])),
    (
        "/login",
        FORM,
        lambda t: encoded([("csrf_token", t), ("username", "alice"), ("password", "")]),
    ),
    (
        "/login",
        FORM,
        lambda t: encoded(
            [("csrf_token", t), ("username", "alice"), ("password", "a"), ("password", "b")]
        ),
    ),
    ("/login", "text/plain", lambda t: b"username=alice"),
    (
        "/login",
        FORM,
        lambda t: encoded([("csrf_token", t), ("username", "alice"), ("password", BIG)]),
    ),
    ("/login/code", FORM, lambda t: encoded([("csrf_token", t), ("code", "123456")])),
]


@pytest.mark.parametrize(("path", "content_type", "body"), ANONYMOUS_CASES)
async def test_bad_anonymous_forms(app, client, path, content_type, body):
    from tests.helpers import Trader

    t = Trader(client)
    await t.page("/login")
    before = await snapshot(app)
    response = await client.post(path, content=body(t.csrf), headers={"content-type": content_type})
    assert 400 <= response.status_code < 500 or response.status_code == 303, response.text
    if response.status_code != 303:
        assert response.text.strip()
    assert await snapshot(app) == before


SIGNED_IN_CASES = [
    ("/settings/security/api-key/view", [("password", "a"), ("password", "b"), ("step", "verify")]),
    ("/settings/security/api-key/view", [("step", "verify"), ("password", "")]),
    ("/settings/security/api-key/view", [("step", "verify"), ("password", BIG)]),
    ("/settings/security/api-key/regenerate", [("step", "verify"), ("password", PASSWORD)]),
    ("/settings/security/api-key/regenerate", [("step", "verify"), ("confirm", "yes")]),
    (
        "/settings/security/api-key/regenerate",
        [("step", "verify"), ("confirm", "no"), ("password", PASSWORD)],
    ),
    ("/settings/security/2fa/confirm", [("code", "123456"), ("password", PASSWORD)]),
    ("/settings/security/2fa/login-on", [("step", "verify"), ("password", PASSWORD)]),
    ("/settings/security/2fa/remove", [("step", "verify")]),
    ("/settings/security/2fa/bogus", [("step", "verify")]),
]


@pytest.mark.parametrize(("path", "pairs"), SIGNED_IN_CASES)
async def test_bad_signed_in_forms(app, client, trader, path, pairs):
    before = await snapshot(app)
    response = await client.post(
        path,
        content=encoded(pairs),
        headers={"content-type": FORM, "X-CSRF-Token": trader.csrf, "HX-Request": "true"},
    )
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:200])
    assert response.text.strip()
    assert await snapshot(app) == before


@pytest.mark.parametrize(
    "headers",
    [
        {"api-key": "at_" + "x" * 49},
        {"api-key": "🔑".encode()},
        {"api-key": BIG[:8000]},
        {"Authorization": "Bearer " + "y" * 5000},
    ],
)
async def test_bad_api_keys(app, client, trader, headers):
    before = await snapshot(app)
    response = await client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["status"] == "error"
    assert await snapshot(app) == before


async def test_two_api_key_headers_are_refused(client, trader):
    response = await client.get("/api/v1/me", headers=[("api-key", "at_a"), ("api-key", "at_b")])
    assert response.status_code == 400


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_wrong_methods_are_4xx(client, trader, method):
    response = await client.request(
        method, "/settings/security", headers={"X-CSRF-Token": trader.csrf}
    )
    assert response.status_code == 405
