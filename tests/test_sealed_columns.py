"""The registry of sealed columns is complete: a database filled through the app holds
ciphertext only in registered columns, and each opens with the registry's binding."""

import re

from sqlalchemy import column as sql_column
from sqlalchemy import inspect, select, table

from tests.alerting import add_address
from tests.helpers import PASSWORD, Trader, add, enrol, make_client
from webapp import sealed_columns
from webapp.sealed_columns import ALL

# The vault's format (vault.KeyRing.encrypt): v1.<key id>.<nonce>.<ciphertext+tag>.
CIPHERTEXT = re.compile(r"v1\.[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22,}")


async def fill_through_the_app(app, trader: Trader, clock) -> None:
    """Every kind of secret the app stores: API key, TOTP secret, recovery key, trading
    credentials, and (for a second user half-way through set-up) a pending TOTP secret,
    an alert address, a newer one waiting for confirmation, and queued messages."""
    await enrol(trader, clock)
    await add(trader)
    await trader.hx("POST", "/settings/security/api-key/regenerate", {"confirm": "yes"})
    # A re-generate with a grace period keeps the old secret sealed in prev_secret, and
    # a named key has its own sealed secret.
    rolled = await trader.hx(
        "POST",
        "/settings/security/api-key/regenerate",
        {"step": "verify", "confirm": "yes", "grace": "24h", "password": PASSWORD},
    )
    assert rolled.status_code == 200 and "old key keeps working" in rolled.text
    created = await trader.hx(
        "POST",
        "/settings/security/api-keys",
        {"step": "verify", "name": "VPS bot", "perm_read": "yes", "stepup_password": PASSWORD},
    )
    assert created.status_code == 201, created.text
    async with make_client(app) as other_client:
        other = Trader(other_client, username="bob")
        await other.register()
        started = await other.hx("POST", "/settings/security/2fa/setup")
        assert started.status_code == 200
        # An alert address, confirmed, then a newer one waiting (and its queued message).
        await add_address(other, app, app.state.ctx.settings.data_dir)
        waiting = await other.hx(
            "POST", "/settings/security/email", {"email": "next@example.org", "password": PASSWORD}
        )
        assert waiting.status_code == 200


async def every_ciphertext(app) -> dict[tuple[str, str], list[dict]]:
    """(table, column) -> the rows holding a ciphertext there, from every text column of
    every table the database has (reflected, not taken from the models)."""
    found: dict[tuple[str, str], list[dict]] = {}
    async with app.state.ctx.engine.connect() as conn:
        layout = await conn.run_sync(
            lambda sync: {
                name: [c["name"] for c in inspect(sync).get_columns(name)]
                for name in inspect(sync).get_table_names()
            }
        )
        for name, columns in layout.items():
            rows = (await conn.execute(select(table(name, *map(sql_column, columns))))).all()
            for row in rows:
                for col, value in row._mapping.items():
                    if isinstance(value, str) and CIPHERTEXT.search(value):
                        found.setdefault((name, col), []).append(dict(row._mapping))
    return found


async def test_every_stored_ciphertext_is_in_a_registered_column(app, trader, clock):
    await fill_through_the_app(app, trader, clock)
    found = await every_ciphertext(app)
    registered = {(s.table, s.column): s for s in ALL}
    assert set(found) - set(registered) == set(), "ciphertext in a column rotation ignores"
    # The fill reached every registered column, so the check above saw them all.
    assert set(found) == set(registered)
    ring = app.state.ctx.keys
    for where, rows in found.items():
        sealed = registered[where]
        for row in rows:
            bound = sealed.bound_to(*(row[c] for c in sealed.bound_ids))
            assert ring.decrypt(row[sealed.column], bound)


def test_registry_names_one_primary_key_and_unique_columns():
    names = [s.name for s in ALL]
    assert len(names) == len(set(names))
    assert sealed_columns.API_KEY_SECRET.digest == ("digest", "api-key-lookup")
    assert sealed_columns.TRADING_CREDENTIALS.bound_to(7, 9) == "trading_accounts:7/9:credentials"
