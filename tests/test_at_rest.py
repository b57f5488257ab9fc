"""A copy of the database alone reveals no secret."""

from tests.helpers import PASSWORD, key_in


async def test_database_holds_neither_api_key_nor_password(app, trader, stored_bytes):
    first = await trader.reveal_key()
    response = await trader.hx(
        "POST", "/settings/security/api-key/regenerate", {"step": "verify", "confirm": "yes"}
    )
    second = key_in(response.text)
    data = await stored_bytes()
    assert b"alice" in data  # the dump really holds the rows
    for key in (first, second):
        assert key.encode() not in data
        assert key[3:-4].encode() not in data  # not even the body without prefix and hint
    assert PASSWORD.encode() not in data
