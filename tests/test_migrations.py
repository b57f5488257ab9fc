"""Alembic owns the schema: upgrades keep every secret readable and every key working."""

import os
import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import SQLModel

from tests import databases
from tests.helpers import PASSWORD, FrozenClock, Trader, fast_passwords, make_client
from webapp import apikey, schema, totp, trading
from webapp.app import create_app
from webapp.config import Settings
from webapp.db import make_engine, make_session_factory
from webapp.models import User
from webapp.repositories import trading_accounts as repo
from webapp.repositories import two_factor
from webapp.sealed_columns import API_KEY_SECRET
from webapp.vault import KeyRing, new_key_line

CREDS = {"password": "pw-one-1", "totpKey": "KRSXG5CTMVRXEZLU", "apiKey": "k", "apiSecret": "s"}


@pytest.fixture
def old_settings(tmp_path) -> Settings:
    """An empty database (not the migrated template) for building old revisions."""
    url = databases.fresh_url(template=False)
    return Settings(data_dir=tmp_path / "var", master_keys=new_key_line("k1"), database_url=url)


def app_env(settings: Settings) -> dict[str, str]:
    """The environment a command needs to reach this test's database and keys."""
    return {
        **os.environ,
        "AUTOTRADER_MASTER_KEYS": settings.master_keys,
        "AUTOTRADER_DATABASE_URL": settings.database_url,
    }


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    """``python -m webapp ARGS --data-dir …`` against this test's database and keys."""
    return subprocess.run(
        [sys.executable, "-m", "webapp", *args, "--data-dir", str(settings.data_dir)],
        capture_output=True,
        text=True,
        env=app_env(settings),
        timeout=60,
    )


async def _user_at_first_revision(db, password_hash: str, now: float) -> User:
    """Insert a user with the columns revision 0001 has, then attach it to ``db``.

    The model has every later column; inserting through it would name columns 0001 does
    not have. Once attached, the ORM writes only the attributes a helper changes.
    """
    values = {"username": "alice", "password_hash": password_hash, "now": now}
    sql = (
        "INSERT INTO users (username, password_hash, created_at, password_changed_at, "
        "login_2fa, credentials_2fa) VALUES (:username, :password_hash, :now, :now, "
        "false, false) RETURNING id"
    )
    user_id = (await db.exec(text(sql).bindparams(**values))).scalar_one()
    user = User(
        id=user_id,
        username="alice",
        password_hash=password_hash,
        created_at=now,
        password_changed_at=now,
    )
    make_transient_to_detached(user)
    db.add(user)
    return user


async def _key_at_first_revision(db, keys: KeyRing, user_id: int, now: float) -> str:
    """The API key as revision 0001 stored it: one row per user, keyed by user_id."""
    plain = apikey.generate()
    values = {
        "user_id": user_id,
        "secret": keys.encrypt(plain, API_KEY_SECRET.bound_to(user_id)),
        "digest": keys.digest(apikey.LOOKUP_PURPOSE, plain),
        "hint": apikey.hint(plain),
        "now": now,
    }
    sql = (
        "INSERT INTO api_keys (user_id, secret, digest, hint, created_at, last_used_at) "
        "VALUES (:user_id, :secret, :digest, :hint, :now, NULL)"
    )
    await db.exec(text(sql).bindparams(**values))
    return plain


async def fill_at_first_revision(settings: Settings, clock: FrozenClock) -> dict:
    """A database at revision 0001 with a user, key, 2FA and a trading account."""
    engine = make_engine(settings.resolved_database_url)
    await schema.upgrade(engine, "0001")
    keys = KeyRing.parse(settings.master_keys)
    passwords = fast_passwords()
    async with make_session_factory(engine)() as db:
        user = await _user_at_first_revision(db, await passwords.hash(PASSWORD), clock.now)
        key = await _key_at_first_revision(db, keys, user.id, clock.now)
        secret = two_factor.start(keys, user, clock.now)
        await two_factor.confirm(db, keys, user, secret, 0)
        user.login_2fa = True
        saved = await trading.create(
            db,
            keys,
            user.id,
            {"broker": "zerodha", "pseudoAccName": "Main", "loginId": "AB1", **CREDS},
            from_form=False,
            now=clock.now,
        )
        assert saved.account is not None
        await db.commit()
    await engine.dispose()
    return {"key": key, "secret": secret}


def test_head_constant_matches_the_migration_scripts():
    assert schema.head() == schema.HEAD


async def test_fresh_database_is_created_at_head(app):
    async with app.state.ctx.engine.connect() as conn:
        current = await conn.run_sync(
            lambda c: MigrationContext.configure(c).get_current_revision()
        )
    assert current == schema.head()


async def test_models_and_migrations_agree(app):
    async with app.state.ctx.engine.connect() as conn:
        diff = await conn.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c), SQLModel.metadata)
        )
    assert diff == []


async def test_app_refuses_a_database_that_is_behind(old_settings, clock):
    await fill_at_first_revision(old_settings, clock)
    engine = make_engine(old_settings.resolved_database_url)
    with pytest.raises(schema.SchemaBehind, match="python -m webapp migrate"):
        await schema.ensure_current(engine)
    await engine.dispose()


async def test_serve_refuses_and_says_what_to_run(old_settings, clock):
    await fill_at_first_revision(old_settings, clock)
    run = run_cli(old_settings, "serve")
    assert run.returncode == 2 and "python -m webapp migrate" in run.stderr


async def test_upgrade_keeps_every_secret_and_key(old_settings, clock):
    filled = await fill_at_first_revision(old_settings, clock)
    run = run_cli(old_settings, "migrate")
    assert run.returncode == 0 and f"to revision {schema.head()}" in run.stdout, run.stderr
    app = create_app(old_settings, clock=clock, passwords=fast_passwords())
    async with app.router.lifespan_context(app), make_client(app) as client:
        me = await client.get("/api/v1/me", headers={"api-key": filled["key"]})
        assert me.status_code == 200 and me.json()["result"]["twoFactor"]["login"] is True
        # The one key of old is now the default key, with every permission.
        assert me.json()["result"]["key"] == {
            "name": "Default key",
            "permissions": ["read", "manage-accounts"],
            "expiresAt": None,
        }
        listed = await client.get("/api/v1/trading-accounts", headers={"api-key": filled["key"]})
        assert listed.status_code == 200 and len(listed.json()["result"]) == 1
        body = {"broker": "zerodha", "pseudoAccName": "Second", "loginId": "AB2", **CREDS}
        made = await client.post(
            "/api/v1/trading-accounts", json=body, headers={"api-key": filled["key"]}
        )
        assert made.status_code == 201, made.text
        trader = Trader(client)
        assert (await trader.login()).headers["location"] == "/login/code"
        await trader.page("/login/code")
        clock.advance(30)
        done = await trader.form("/login/code", {"code": totp.code_at(filled["secret"], clock.now)})
        assert done.headers["location"] == "/settings/security"
        await trader.page("/settings/security")
        clock.advance(30)
        code = totp.code_at(filled["secret"], clock.now)
        shown = await trader.hx(
            "POST",
            "/trading-accounts/1/view",
            {"step": "verify", "password": PASSWORD, "code": code},
        )
        assert CREDS["apiSecret"] in shown.text
        async with app.state.ctx.db() as db:
            row = await repo.get_owned(db, 1, 1)
        assert repo.reveal(app.state.ctx.keys, row)["password"] == CREDS["password"]
    assert apikey.is_well_formed(filled["key"])
    again = run_cli(old_settings, "migrate")
    assert "already at revision" in again.stdout
