"""Security alerts: the sealed address, delivery (outbox files, a real SMTP server,
retries), what each alert says, and that no message carries a secret."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest
from sqlmodel import select

from tests.alerting import (
    ADDRESS,
    CONFIRM_LINK,
    LOCK_LINK,
    SmtpServer,
    add_address,
    body,
    confirm,
    eml_files,
    free_port,
    read_eml,
    token_in,
)
from tests.helpers import (
    CREDS,
    PASSWORD,
    FrozenClock,
    Trader,
    add,
    change_2fa,
    enrol,
    fast_passwords,
    make_client,
)
from webapp import activity, maintenance
from webapp.alerts import catalog, compose, delivery
from webapp.app import create_app
from webapp.config import ConfigError, Settings
from webapp.models import MailOutbox, MailToken, User
from webapp.rotation import drop_unused_keys, rotate


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock):
    """The app without its delivery task: each test delivers when it chooses."""
    application = create_app(settings, clock=clock, passwords=fast_passwords(), mail_worker=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) listening on localhost."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def smtp_app(settings: Settings, clock: FrozenClock, smtp_server: SmtpServer):
    """The app delivering through the test's SMTP server."""
    configured = dataclasses.replace(settings, smtp_url=smtp_server.url)
    application = create_app(configured, clock=clock, passwords=fast_passwords(), mail_worker=False)
    async with application.router.lifespan_context(application):
        yield application


async def deliver(app) -> int:
    """Run one delivery round now."""
    return await delivery.deliver_due(app.state.ctx)


async def outbox_rows(app) -> list[MailOutbox]:
    """Every queued or sent message."""
    async with app.state.ctx.db() as db:
        return list((await db.exec(select(MailOutbox))).all())


async def test_address_is_confirmed_by_link_masked_and_sealed(
    app, trader, settings, stored_bytes, caplog
):
    caplog.set_level(logging.INFO, logger="webapp.alerts")
    await trader.page("/settings/security")
    asked = await trader.hx(
        "POST", "/settings/security/email", {"email": ADDRESS, "password": PASSWORD}
    )
    assert asked.status_code == 200
    assert "t***e@e***.com" in asked.text and ADDRESS not in asked.text
    assert "Waiting for confirmation" in asked.text
    # Queued, not sent on the request path; delivered by the worker's round.
    assert eml_files(settings.data_dir) == []
    assert await deliver(app) == 1
    [path] = eml_files(settings.data_dir)
    message = read_eml(path)
    assert message["To"] == ADDRESS
    assert message["Subject"] == "AutoTrader: confirm your alert email address"
    assert [r.message for r in caplog.records if "written to" in r.message] == [
        f"no SMTP server configured: message email_confirm written to {path}"
    ]
    assert ADDRESS not in caplog.text
    token = token_in(message, CONFIRM_LINK)
    # Nothing changes until the link is followed; the database holds no plain address.
    async with app.state.ctx.db() as db:
        user = (await db.exec(select(User))).one()
    assert user.email is None and user.email_pending.startswith("v1.")
    assert await confirm(trader, token) == 200
    page = await trader.page("/settings/security")
    assert 'id="alert-email">t***e@e***.com<' in page.text and ADDRESS not in page.text
    assert ADDRESS.encode() not in await stored_bytes()
    assert b"trader.one" not in await stored_bytes()
    # Confirming sends the first alert there, with a lock link.
    assert await deliver(app) == 1
    added = read_eml(eml_files(settings.data_dir)[-1])
    assert added["Subject"] == "AutoTrader security alert: Alert email address added"
    assert LOCK_LINK.search(body(added))


async def test_confirmation_link_is_single_use_expires_and_yields_to_a_newer_address(
    app, trader, settings, clock
):
    token = await add_address(trader, app, settings.data_dir)
    assert await confirm(trader, token) == 410  # used
    await trader.hx(
        "POST", "/settings/security/email", {"email": "b@example.org", "password": PASSWORD}
    )
    await deliver(app)
    first = token_in(read_eml(eml_files(settings.data_dir)[-1]), CONFIRM_LINK)
    await trader.hx(
        "POST", "/settings/security/email", {"email": "c@example.org", "password": PASSWORD}
    )
    await deliver(app)
    second = token_in(read_eml(eml_files(settings.data_dir)[-1]), CONFIRM_LINK)
    assert await confirm(trader, first) == 409  # another address was asked for since
    clock.advance(24 * 3600 + 1)
    assert await confirm(trader, second) == 410  # expired
    for bad in ("short", "x" * 43, "%2e%2e", "A" * 500):
        response = await trader.client.get(f"/email/confirm?t={bad}")
        assert response.status_code in (404, 410), bad
    await trader.login()  # the session timed out meanwhile
    page = await trader.page("/settings/security")
    assert "t***e@e***.com" in page.text  # still the first address


async def test_changing_the_address_needs_a_fresh_step_up(app, trader, clock, settings):
    await enrol(trader, clock)
    await trader.page("/settings/security")
    form = {"email": ADDRESS, "password": PASSWORD}
    refused = await trader.hx("POST", "/settings/security/email", form)
    assert refused.status_code == 422 and 'id="alert-code-error"' in refused.text
    wrong = await trader.hx("POST", "/settings/security/email", {**form, "password": "nope"})
    assert wrong.status_code == 422
    for bad in ("", "no-at-sign", "a@b", "x@y.com\r\nBcc: evil@z.com", "a b@c.com", "é@x.com"):
        response = await trader.hx("POST", "/settings/security/email", {**form, "email": bad})
        assert response.status_code in (400, 422), bad
    assert await outbox_rows(app) == []
    clock.advance(30)
    ok = await trader.hx("POST", "/settings/security/email", {**form, "code": trader.code(clock)})
    assert ok.status_code == 200 and "Waiting for confirmation" in ok.text


async def test_alerts_arrive_by_smtp_and_carry_no_secret(
    smtp_app, smtp_server, client, clock, settings
):
    app = smtp_app
    trader = Trader(client)
    await trader.register()
    first_key = await trader.reveal_key()
    # Add the address (the confirmation also travels by SMTP).
    await trader.hx("POST", "/settings/security/email", {"email": ADDRESS, "password": PASSWORD})
    await deliver(app)
    [(rcpt, confirmation)] = smtp_server.inbox.take()
    assert rcpt == [ADDRESS]
    assert await confirm(trader, token_in(confirmation, CONFIRM_LINK)) == 200
    await trader.page("/settings/security")
    # A run of actions, each of which alerts.
    await trader.reveal_key()
    regenerated = await trader.hx(
        "POST",
        "/settings/security/api-key/regenerate",
        {"step": "verify", "password": PASSWORD, "confirm": "yes"},
    )
    assert regenerated.status_code == 200
    second_key = trader.api_key = regenerated.text.split("at_", 1)[1][:49]
    account_id = await add(trader)
    await trader.hx(
        "POST", f"/trading-accounts/{account_id}/view", {"step": "verify", "password": PASSWORD}
    )
    await enrol(trader, clock)
    codes = list(trader.recovery)
    used_code = trader.code(clock)
    await change_2fa(trader, clock, "credentials-on")
    recovery = await change_2fa(trader, clock, "login-on", code=codes[0])
    assert recovery.status_code == 200
    new_password = "an entirely new passphrase 42"
    clock.advance(30)
    changed = await trader.hx(
        "POST",
        "/settings/security/password",
        {"password": PASSWORD, "code": trader.code(clock), "new_password": new_password},
    )
    assert changed.status_code == 200
    trader.password = new_password
    removed = await change_2fa(trader, clock, "remove", confirm="yes")
    assert removed.status_code == 200
    await trader.page("/settings/security")
    assert (await trader.form("/settings/security/lock", {})).status_code == 303
    # The actions were done before any delivery: none waited for the mail server.
    assert smtp_server.inbox.take() == []
    await deliver(app)
    received = smtp_server.inbox.take()
    subjects = [m["Subject"].removeprefix("AutoTrader security alert: ") for _, m in received]
    for expected in (
        "Alert email address added",
        "API key viewed",
        "API key re-generated",
        "Trading account added",
        "Trading credentials viewed",
        "Two-factor authentication set up",
        "Credentials 2FA turned on",
        "A recovery code was used",
        "Login 2FA turned on",
        "Password changed",
        "Two-factor authentication removed",
        "Account locked",
    ):
        assert expected in subjects, (expected, subjects)
    secrets = [
        PASSWORD,
        new_password,
        first_key,
        second_key,
        first_key[-4:] + "",  # not even the hint the page shows
        trader.totp_secret,
        used_code,
        *codes,
        *CREDS.values(),
    ]
    for rcpt, message in received:
        assert rcpt == [ADDRESS]
        assert message["From"] == settings.mail_from
        text = message.as_string()
        for secret in secrets:
            assert secret not in text, (message["Subject"], secret)
        assert "Wasn't you? Lock my account:" in body(message)
        assert LOCK_LINK.search(body(message))
        assert "203.0.113.7" in body(message)  # from which address
    used = next(m for _, m in received if "recovery code was used" in m["Subject"])
    assert "9 recovery codes left" in body(used)


async def test_new_sign_in_alerts_once_per_browser_and_can_be_turned_off(app, trader, settings):
    await add_address(trader, app, settings.data_dir)
    await deliver(app)
    before = len(eml_files(settings.data_dir))
    await trader.login()  # the same browser and address as at sign-up: not new
    await deliver(app)
    assert len(eml_files(settings.data_dir)) == before
    async with make_client(app) as other:
        phone = Trader(other)
        other.headers["user-agent"] = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Safari/604.1"
        await phone.login()
        await deliver(app)
        [new] = eml_files(settings.data_dir)[before:]
        message = read_eml(new)
        assert message["Subject"] == "AutoTrader security alert: New sign-in"
        assert "Safari on iPhone" in body(message)
        assert "turn this kind of alert off" in body(message)
        # Turned off: neither new sign-ins nor key views alert; a password change still does.
        await trader.page("/settings/security")
        off = await trader.hx("POST", "/settings/security/alerts", {})
        assert off.status_code == 200 and "Alert settings saved." in off.text
        other.headers["user-agent"] = "Mozilla/5.0 (Windows NT 10.0) Firefox/120.0"
        await phone.login()
        await trader.reveal_key()
        await trader.hx(
            "POST",
            "/settings/security/password",
            {"password": PASSWORD, "new_password": "another long passphrase 7"},
        )
        await deliver(app)
    subjects = [read_eml(p)["Subject"] for p in eml_files(settings.data_dir)[before + 1 :]]
    assert subjects == ["AutoTrader security alert: Password changed"]


async def test_email_change_is_told_to_the_old_address_too(app, trader, settings):
    await add_address(trader, app, settings.data_dir)
    await deliver(app)
    before = len(eml_files(settings.data_dir))
    await add_address(trader, app, settings.data_dir, address="new.one@example.net")
    await deliver(app)
    sent = [read_eml(p) for p in eml_files(settings.data_dir)[before + 1 :]]
    by_rcpt = {m["To"]: m for m in sent}
    assert set(by_rcpt) == {ADDRESS, "new.one@example.net"}
    assert "last one sent here" in body(by_rcpt[ADDRESS])
    assert "n***e@e***.net" in body(by_rcpt[ADDRESS])
    assert LOCK_LINK.search(body(by_rcpt[ADDRESS]))


async def test_delivery_failure_is_retried_with_backoff_and_never_fails_the_action(
    settings, clock, caplog
):
    port = free_port()  # nothing listens here yet
    configured = dataclasses.replace(settings, smtp_url=f"smtp://127.0.0.1:{port}")
    app = create_app(configured, clock=clock, passwords=fast_passwords(), mail_worker=False)
    async with app.router.lifespan_context(app), make_client(app) as client:
        trader = Trader(client)
        await trader.register()
        async with app.state.ctx.db() as db:  # an address, as if confirmed earlier
            user = (await db.exec(select(User))).one()
            user.email = app.state.ctx.keys.encrypt(ADDRESS, f"users:{user.id}:email")
            db.add(user)
            await db.commit()
        viewed = await trader.view_key()
        assert viewed.status_code == 200  # the action is done, mail server or not
        assert await deliver(app) == 0
        [row] = await outbox_rows(app)
        assert row.attempts == 1 and row.sent_at is None
        assert row.next_at == clock.now + 60 and row.error.startswith("ConnectionRefusedError")
        assert ADDRESS not in row.error and ADDRESS not in caplog.text
        assert await deliver(app) == 0  # not due yet: no attempt
        clock.advance(60)
        assert await deliver(app) == 0
        [row] = await outbox_rows(app)
        assert row.attempts == 2 and row.next_at == clock.now + 120  # backoff doubles
        server = SmtpServer(port)
        server.start()
        try:
            clock.advance(120)
            assert await deliver(app) == 1
            [(rcpt, message)] = server.inbox.take()
        finally:
            server.stop()
        assert rcpt == [ADDRESS] and "API key viewed" in message["Subject"]
        [row] = await outbox_rows(app)
        assert row.sent_at == clock.now and row.attempts == 3
        # Every attempt made its own lock link; each still works (hashes only stored).
        async with app.state.ctx.db() as db:
            tokens = (await db.exec(select(MailToken))).all()
        assert len(tokens) == 3 and all(len(t.digest) == 64 for t in tokens)


async def test_delivery_gives_up_after_the_last_attempt(app, trader, settings, clock, monkeypatch):
    async with app.state.ctx.db() as db:
        user = (await db.exec(select(User))).one()
        user.email = app.state.ctx.keys.encrypt(ADDRESS, f"users:{user.id}:email")
        db.add(user)
        await db.commit()
    await trader.reveal_key()

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(delivery, "_write_eml", broken)
    for _ in range(delivery.MAX_ATTEMPTS):
        assert await deliver(app) == 0
        clock.advance(delivery.BACKOFF_CAP)
    [row] = await outbox_rows(app)
    assert row.gave_up_at is not None and row.attempts == delivery.MAX_ATTEMPTS
    assert row.error == "OSError"


def test_smtp_settings_are_checked_without_repeating_the_password():
    env = {"AUTOTRADER_SMTP_URL": "smtps://me:s3cret-pw@mail.example.com:465"}
    settings = Settings.from_env(env)
    assert settings.smtp_url.startswith("smtps://") and "s3cret-pw" not in repr(settings)
    assert settings.cooldown_hours == 24 and Settings.from_env({}).smtp_url == ""
    for bad in ("http://me:s3cret-pw@x", "smtp://me:s3cret-pw@", "smtp://me:s3cret-pw@h:99999"):
        with pytest.raises(ConfigError) as caught:
            Settings.from_env({"AUTOTRADER_SMTP_URL": bad})
        assert "s3cret-pw" not in str(caught.value)
    with pytest.raises(ConfigError):
        Settings.from_env({"AUTOTRADER_MAIL_FROM": "a@b.com\r\nBcc: x@y.com"})
    with pytest.raises(ConfigError):
        Settings.from_env({"AUTOTRADER_PUBLIC_URL": "javascript:alert(1)"})
    assert Settings.from_env({"AUTOTRADER_COOLDOWN_HOURS": "0"}).cooldown_hours == 0


async def test_key_rotation_moves_sealed_addresses_and_old_keys_can_go(
    tmp_path, database_url, clock
):
    keyfile_settings = Settings(data_dir=tmp_path / "keyfile", database_url=database_url)
    if not database_url:
        keyfile_settings.data_dir.mkdir(mode=0o700)
    app = create_app(keyfile_settings, clock=clock, passwords=fast_passwords(), mail_worker=False)
    async with app.router.lifespan_context(app), make_client(app) as client:
        trader = Trader(client)
        await trader.register()
        await add_address(trader, app, keyfile_settings.data_dir)
        # A second address waits for confirmation: pending column and a queued message.
        await trader.hx(
            "POST", "/settings/security/email", {"email": "next@example.org", "password": PASSWORD}
        )
        report = await rotate(keyfile_settings)
        assert report.counts["users.email"] == 1 and report.counts["users.email_pending"] == 1
        assert report.counts["mail_outbox.recipient"] == 2  # both confirmation messages
        assert await drop_unused_keys(keyfile_settings) == {"k1"}
        page = await trader.page("/settings/security")
        assert "t***e@e***.com" in page.text and "n***t@e***.org" in page.text
        assert await deliver(app) >= 1
        sent = [read_eml(p) for p in eml_files(keyfile_settings.data_dir)]
        assert any(m["To"] == "next@example.org" for m in sent)


async def test_sent_messages_and_spent_links_are_pruned_after_the_links_expire(
    app, trader, settings, clock
):
    await add_address(trader, app, settings.data_dir)
    await trader.reveal_key()
    await trader.hx(  # still waiting for delivery after 8 days: kept
        "POST", "/settings/security/email", {"email": "x@example.org", "password": PASSWORD}
    )
    async with app.state.ctx.db() as db:
        queued = (await db.exec(select(MailOutbox).where(MailOutbox.sent_at == None))).all()  # noqa: E711
        for row in queued:
            if row.kind == "email_confirm":
                row.next_at = clock.now + 30 * 86400
                db.add(row)
        await db.commit()
    await deliver(app)
    clock.advance(maintenance.MAIL_KEEP_SECONDS - 60)
    await maintenance.prune_events(app.state.ctx)
    assert len(await outbox_rows(app)) == 4  # confirm, "added", "viewed", the queued one
    clock.advance(120)
    await maintenance.prune_events(app.state.ctx)
    rows = await outbox_rows(app)
    assert [r.kind for r in rows] == ["email_confirm"] and rows[0].sent_at is None
    async with app.state.ctx.db() as db:
        assert (await db.exec(select(MailToken))).all() == []


async def test_lock_alerts_from_wrong_passwords_come_at_most_hourly(app, trader, settings, clock):
    await add_address(trader, app, settings.data_dir)
    await deliver(app)
    before = len(eml_files(settings.data_dir))
    async with make_client(app) as other:
        stranger = Trader(other)
        for _ in range(3):  # three locks in a row, each after its wait
            for _ in range(6):
                await stranger.login(password="wrong password guess")
            clock.advance(120)
        await deliver(app)
        assert [read_eml(p)["Subject"] for p in eml_files(settings.data_dir)[before:]] == [
            "AutoTrader security alert: Sign-in locked after wrong passwords"
        ]
        clock.advance(3600)
        for _ in range(2):
            await stranger.login(password="wrong password guess")
        await deliver(app)
    assert len(eml_files(settings.data_dir)) == before + 2


def test_every_alert_of_the_issue_exists_renders_and_only_two_can_be_turned_off(settings):
    required = {
        "signin",  # from a browser/address not seen before
        "password_locked",
        "code_locked",
        "2fa_enrolled",
        "2fa_removed",
        "login_2fa_on",
        "login_2fa_off",
        "credentials_2fa_on",
        "credentials_2fa_off",
        "recovery_code_used",
        "password_changed",
        "api_key_viewed",
        "api_key_regenerated",
        "credentials_viewed",
        "credentials_edited",
        "account_added",
        "account_deleted",
        "email_changed",
        catalog.OLD_ADDRESS_KIND,
        "account_locked",
        "account_unlocked",
    }
    assert required <= set(catalog.ALERTS)
    switchable = {kind for kind, alert in catalog.ALERTS.items() if alert.switch}
    assert switchable == {"signin", "api_key_viewed"}
    user = User(id=7, username="alice", password_hash="", created_at=0, password_changed_at=0)
    for kind in catalog.ALERTS:
        row = MailOutbox(id="0" * 32, user_id=7, kind=kind, at=0.0, ip="198.51.100.4", next_at=0)
        text = compose.alert_body(settings, row, user, ADDRESS, "https://x.example/lock?t=T")
        assert "Wasn't you? Lock my account:\nhttps://x.example/lock?t=T\n" in text, kind
        assert ADDRESS not in text and "t***e@e***.com" in text
        assert max(len(line) for line in text.splitlines()) <= 80, kind
        assert kind in activity.LABELS or kind == catalog.OLD_ADDRESS_KIND, kind


async def test_two_workers_delivering_at_once_send_each_message_once(app, trader, settings):
    await add_address(trader, app, settings.data_dir)
    for _ in range(3):
        await trader.reveal_key()
    before = len(eml_files(settings.data_dir))
    rounds = await asyncio.gather(*(deliver(app) for _ in range(4)))
    assert sum(rounds) == 4  # "added" and three "viewed", each claimed by one round
    assert len(eml_files(settings.data_dir)) == before + 4
    assert all(r.sent_at is not None and r.attempts == 1 for r in await outbox_rows(app))
