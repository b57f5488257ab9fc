"""Large databases for the rotation tests, written with bulk inserts (no HTTP, no argon2
per row): users with a TOTP secret, an API key and one trading account each."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from pathlib import Path

from sqlalchemy import insert, text

from tests.helpers import FAST_HASHER
from webapp import apikey, key_rules
from webapp.db import make_engine
from webapp.models import ApiKey, TradingAccount, User
from webapp.vault import KeySource, aad

CHUNK = 5000
PASSWORD = "bulk user password"  # every bulk user's (a cheap argon2id hash of it)
_SETVAL = "SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"


def sqlite_url(data_dir: Path) -> str:
    """The app's default database URL for ``data_dir``."""
    return f"sqlite+aiosqlite:///{data_dir / 'autotrader.db'}"


def fill(database_url: str, data_dir: Path, count: int) -> None:
    """Insert ``count`` users (ids 1…count), each with 2FA, a key and an account, sealed
    with the data directory's key file (made if missing). The schema must exist."""
    ring = KeySource("", data_dir, create=True).ring()
    password_hash = FAST_HASHER.hash(PASSWORD)
    users, keys, accounts = [], [], []
    for uid in range(1, count + 1):
        totp = base64.b32encode(secrets.token_bytes(20)).decode()
        users.append(
            {
                "id": uid,
                "username": f"bulk{uid:06d}",
                "password_hash": password_hash,
                "created_at": 1.0,
                "password_changed_at": 1.0,
                "totp_secret": ring.encrypt(totp, aad("users", uid, "totp_secret")),
                "login_2fa": False,
                "credentials_2fa": False,
            }
        )
        plain = apikey.generate()
        keys.append(
            {
                "id": uid,
                "user_id": uid,
                "name": key_rules.DEFAULT_NAME,
                "is_default": True,
                "permissions": key_rules.ALL,
                "allow_ips": "",
                "last_used_ip": "",
                "secret": ring.encrypt(plain, aad("api_keys", uid, "secret")),
                "digest": ring.digest(apikey.LOOKUP_PURPOSE, plain),
                "hint": apikey.hint(plain),
                "created_at": 1.0,
            }
        )
        creds = {"password": f"pw-{uid}", "apiKey": f"key-{uid}", "apiSecret": f"s-{uid}"}
        accounts.append(
            {
                "id": uid,
                "user_id": uid,
                "broker": "zerodha",
                "platform": "Kite",
                "pseudo_acc_name": "Bulk",
                "nickname_key": "bulk",
                "login_id": f"B{uid}",
                "credentials": ring.encrypt(
                    json.dumps(creds), aad("trading_accounts", f"{uid}/{uid}", "credentials")
                ),
                "created_at": 1.0,
                "updated_at": 1.0,
            }
        )
    asyncio.run(_insert(database_url, users, keys, accounts))


async def _insert(url: str, users: list, keys: list, accounts: list) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            for model, rows in ((User, users), (ApiKey, keys), (TradingAccount, accounts)):
                for start in range(0, len(rows), CHUNK):
                    await conn.execute(insert(model), rows[start : start + CHUNK])
            if engine.dialect.name == "postgresql":
                # Explicit ids leave the sequences behind: move them past the rows.
                for name in ("users", "api_keys", "trading_accounts"):
                    await conn.execute(text(_SETVAL.format(name=name)))
    finally:
        await engine.dispose()
