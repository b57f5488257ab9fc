"""A copy of the database file alone reveals no secret."""

from tests.helpers import PASSWORD, key_in


def raw_bytes(paths) -> bytes:
    return b"".join(p.read_bytes() for p in paths if p.exists())


async def test_database_holds_neither_api_key_nor_password(app, trader, db_files):
    first = await trader.reveal_key()
    response = await trader.hx(
        "POST", "/settings/security/api-key/regenerate", {"step": "verify", "confirm": "yes"}
    )
    second = key_in(response.text)
    data = raw_bytes(db_files)
    assert db_files[0].exists() and data
    for key in (first, second):
        assert key.encode() not in data
        assert key[3:-4].encode() not in data  # not even the body without prefix and hint
    assert PASSWORD.encode() not in data
