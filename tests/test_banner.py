"""The start banner of ``serve``: the address to open, the data folder, how to stop."""

from pathlib import Path

import pytest

from tests.helpers import Trader
from webapp import banner
from webapp.config import Settings


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:9000"),
        ("0.0.0.0", "http://127.0.0.1:9000"),  # noqa: S104
        ("::1", "http://[::1]:9000"),
        ("trading.example", "http://trading.example:9000"),
    ],
)
def test_the_address_to_open(host, url):
    assert banner.base_url(host, 9000) == url


def test_an_empty_database_sends_the_newcomer_to_register(tmp_path):
    text = banner.text(Settings(data_dir=tmp_path / "var", port=9000), users_exist=False)
    assert "http://127.0.0.1:9000/register" in text
    assert str((tmp_path / "var").resolve()) in text
    assert "Ctrl+C" in text
    assert len(text.splitlines()) == 4


def test_with_users_it_points_at_sign_in_and_never_prints_a_database_password():
    settings = Settings(
        data_dir=Path("var"), database_url="postgresql+asyncpg://app:s3cret-pw@db/autotrader"
    )
    text = banner.text(settings, users_exist=True)
    assert "http://127.0.0.1:8000/login" in text
    assert "s3cret-pw" not in text and "db/autotrader" in text


async def test_it_asks_the_real_database_whether_anyone_registered(settings, app, client):
    assert not await banner.has_users(settings)
    trader = Trader(client)
    assert (await trader.register()).status_code == 303
    assert await banner.has_users(settings)
