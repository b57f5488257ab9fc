"""SQLModel tables. Times are UTC epoch seconds (floats) from the app's clock.

Columns holding a secret hold vault ciphertext (``v1.<kid>.…``), never plain text.
"""

from __future__ import annotations

from typing import Protocol, TypedDict

from sqlalchemy import ColumnElement, Index, UniqueConstraint, or_
from sqlmodel import Field, SQLModel, col

from webapp.trading_fields import RULES


class _Row(Protocol):
    @property
    def id(self) -> int | None: ...


def id_of(row: _Row) -> int:
    """The primary key of a saved row; a row never flushed has none, and using it is a bug."""
    if row.id is None:
        raise ValueError(f"{type(row).__name__} has no id yet: flush it before using its id")
    return row.id


class User(SQLModel, table=True):
    """A trader's account; usernames are stored lower-cased, so unique ignoring case."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    password_hash: str
    created_at: float
    password_changed_at: float
    # Two-factor authentication; every secret below is vault ciphertext.
    totp_secret: str | None = None
    totp_pending: str | None = None
    totp_pending_at: float | None = None
    totp_last_step: int | None = None
    login_2fa: bool = False
    credentials_2fa: bool = False
    recovery_key: str | None = None
    # Security alerts (issue 17): addresses are vault ciphertext; see webapp/alerts/.
    email: str | None = None
    email_pending: str | None = None
    email_pending_at: float | None = None
    alert_signin: bool = True  # informational alerts a user may turn off
    alert_key_viewed: bool = True
    # Lock-down: keys suspended and reveal frozen while set (the API reads it per call).
    locked_at: float | None = None
    # Cool-down: when the last risky change happened, and which (webapp/security/holds.py).
    cooldown_from: float | None = None
    cooldown_reason: str = Field(default="", max_length=64)

    # Passkeys: a random WebAuthn user handle (never the username or the id), made
    # with the first passkey, and how many passkeys the user has (kept in step with
    # the passkeys table in the same transaction, so the policy can read it).
    passkey_handle: str | None = Field(default=None, max_length=64, unique=True, index=True)
    passkey_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})

    @property
    def has_totp(self) -> bool:
        """Whether an authenticator app is set up (its codes, or recovery codes, are asked)."""
        return self.totp_secret is not None

    @property
    def enrolled(self) -> bool:
        """Whether 2FA is set up: an authenticator app, a passkey, or both."""
        return self.has_totp or self.passkey_count > 0

    @classmethod
    def enrolled_sql(cls) -> ColumnElement[bool]:
        """:attr:`enrolled` as SQL, for queries that read it without loading the user."""
        return or_(col(cls.totp_secret).is_not(None), col(cls.passkey_count) > 0)


class UserRow(SQLModel):
    """The columns a table of a user's own things starts with: its id and its owner."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)


class ApiKey(UserRow, table=True):
    """An API key: ciphertext to show it, a keyed digest to look it up, and its limits.

    Each user has one default key (made at registration, every permission, no limits)
    and may add named ones. While a re-generated key's grace period runs, the previous
    secret's ciphertext and digest stay in ``prev_*`` so both keys work.
    """

    __tablename__ = "api_keys"

    name: str = Field(max_length=64)
    is_default: bool = False
    secret: str
    digest: str = Field(max_length=64, unique=True, index=True)
    hint: str = Field(max_length=8)
    permissions: str = Field(max_length=64)  # space-separated names (webapp/key_rules.py)
    allow_ips: str = Field(default="", max_length=2000)  # comma-separated networks; "" = any
    expires_at: float | None = None
    created_at: float
    last_used_at: float | None = None
    last_used_ip: str = Field(default="", max_length=64)
    # The previous secret during a grace period after Re-generate (all None otherwise).
    prev_secret: str | None = None
    prev_digest: str | None = Field(default=None, max_length=64, unique=True, index=True)
    prev_hint: str | None = Field(default=None, max_length=8)
    prev_until: float | None = None


class ApiKeyUse(SQLModel, table=True):
    """One API call made with a key (the newest 100 per key are kept); never the key."""

    __tablename__ = "api_key_uses"
    __table_args__ = (Index("ix_api_key_uses_key_id_id", "key_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    key_id: int = Field(foreign_key="api_keys.id")
    at: float
    method: str = Field(max_length=8)
    path: str = Field(max_length=200)  # without the query string
    status: int
    ip: str = Field(default="", max_length=64)


class SessionRecord(SQLModel, table=True):
    """A signed-in browser session; the cookie holds the id, this row its fate."""

    __tablename__ = "sessions"

    # SHA-256 of the random session id: a stolen database cannot forge a cookie.
    id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="users.id", index=True)
    created_at: float
    last_seen_at: float
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=256)
    revoked_at: float | None = None


class Throttle(SQLModel, table=True):
    """Failure counters and locks, shared by every worker through the database."""

    __tablename__ = "throttles"

    key: str = Field(primary_key=True, max_length=200)
    failures: int = 0
    window_start: float = 0.0
    locked_until: float = 0.0


class RecoveryCode(UserRow, table=True):
    """One single-use recovery code, kept as a keyed hash."""

    __tablename__ = "recovery_codes"

    digest: str = Field(max_length=64)
    used_at: float | None = None


class SecurityEvent(SQLModel, table=True):
    """Something security-relevant that happened to an account; never a secret."""

    __tablename__ = "security_events"
    __table_args__ = (Index("ix_security_events_user_id_id", "user_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    at: float = Field(index=True)
    kind: str = Field(max_length=64)
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=256)
    detail: str = Field(default="", max_length=256)


class Trail(TypedDict):
    """The where-from columns shared by events and messages."""

    ip: str
    user_agent: str
    detail: str


def trail(ip: str, user_agent: str, detail: str) -> Trail:
    """The where-from columns of an event or a message, cut to their column sizes."""
    return {"ip": ip[:64], "user_agent": user_agent[:256], "detail": detail[:256]}


class TradingAccount(UserRow, table=True):
    """A broker account; every credential is inside one ciphertext bound to its owner."""

    __tablename__ = "trading_accounts"
    __table_args__ = (UniqueConstraint("user_id", "nickname_key"),)

    broker: str = Field(max_length=32)
    # Column sizes are the field rules' (migrations keep the numbers of their day).
    platform: str = Field(max_length=RULES["platform"].max_length)
    pseudo_acc_name: str = Field(max_length=RULES["pseudoAccName"].max_length)
    nickname_key: str = Field(max_length=RULES["pseudoAccName"].max_length)  # lower-cased
    login_id: str = Field(max_length=RULES["loginId"].max_length)
    credentials: str  # vault ciphertext of a JSON object of the credential fields
    created_at: float
    updated_at: float


class MailOutbox(SQLModel, table=True):
    """One message waiting for (or done with) delivery; the text is made when sent.

    ``recipient`` is vault ciphertext, or None for "the user's confirmed address at
    delivery time". Only what happened is stored, never a token: link tokens are made
    at each delivery attempt and kept as hashes in :class:`MailToken`.
    """

    __tablename__ = "mail_outbox"

    id: str = Field(primary_key=True, max_length=32)
    user_id: int = Field(foreign_key="users.id", index=True)
    kind: str = Field(max_length=64)
    at: float
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=256)
    detail: str = Field(default="", max_length=256)
    recipient: str | None = None
    attempts: int = 0
    next_at: float = Field(index=True)
    sent_at: float | None = None
    gave_up_at: float | None = None
    error: str = Field(default="", max_length=200)


class MailToken(SQLModel, table=True):
    """A single-use link token from a message (lock the account, confirm an address).

    Only the SHA-256 of the random token is stored: the database cannot make a link.
    """

    __tablename__ = "mail_tokens"

    digest: str = Field(primary_key=True, max_length=64)
    purpose: str = Field(max_length=16)
    user_id: int = Field(foreign_key="users.id", index=True)
    mail_id: str = Field(max_length=32)
    created_at: float
    used_at: float | None = None


class Passkey(UserRow, table=True):
    """A passkey or security key: a public key (nothing secret) and its counter."""

    __tablename__ = "passkeys"

    # base64url of the authenticator's random id (16 to 1023 bytes); one account only.
    credential_id: str = Field(max_length=1400, unique=True, index=True)
    credential_data: str  # base64url AAGUID + id + COSE public key
    sign_count: int = 0
    name: str = Field(max_length=64)
    created_at: float
    last_used_at: float | None = None


class PasskeyChallenge(SQLModel, table=True):
    """A WebAuthn challenge: single-use, bound to one session, short-lived."""

    __tablename__ = "passkey_challenges"

    id: int | None = Field(default=None, primary_key=True)
    # "s:<session record id>" when signed in, "l:<hash of the pending sign-in>" at Login 2FA.
    binding: str = Field(max_length=80, index=True)
    user_id: int = Field(foreign_key="users.id")
    purpose: str = Field(max_length=16)  # "register" or "assert"
    challenge: str = Field(max_length=64)  # base64url of 32 random bytes; a nonce, not a secret
    expires_at: float = Field(index=True)
