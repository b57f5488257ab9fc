"""Settings, read once from the environment (AUTOTRADER_*) and CLI flags."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A setting has a value the app cannot use."""


# (variable name, its non-blank value) -> the setting's value, or ConfigError saying why not.
Parser = Callable[[str, str], Any]


def _text(name: str, raw: str) -> str:
    return raw


def _path(name: str, raw: str) -> Path:
    return Path(raw)


def _whole(minimum: int = 1) -> Parser:
    """A parser of whole numbers of at least ``minimum``."""

    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError as exc:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {value}")
        return value

    return parse


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


LOG_LEVELS = ("debug", "info", "warning", "error")


def _choice(*allowed: str) -> Parser:
    """A parser of one of ``allowed`` (any case)."""

    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        return value

    return parse


def _proxies(name: str, raw: str) -> str:
    from webapp.security.proxies import parse_networks

    try:
        parse_networks(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from exc
    return raw


def _smtp_url(name: str, raw: str) -> str:
    from webapp.alerts.smtp import parse_url

    try:
        parse_url(raw.strip())
    except ValueError as exc:
        # The message never repeats the URL: it may hold the SMTP password.
        raise ConfigError(f"{name}: {exc}") from exc
    return raw.strip()


def _mail_from(name: str, raw: str) -> str:
    value = raw.strip()
    if any(ord(c) < 32 or ord(c) == 127 for c in value) or "@" not in value:
        raise ConfigError(f"{name} must be one address line, got {value!r}")
    return value


def _public_url(name: str, raw: str) -> str:
    from webapp.security.webauthn import relying_party

    value = raw.strip().rstrip("/")
    if value:
        relying_party(value)  # raises ConfigError saying why it cannot be an RP id
    return value


@dataclass(frozen=True)
class Setting:
    """One environment setting: the Settings attribute it fills, its variable, default,
    parser, and the README's settings-table row (``shown`` default and ``help``)."""

    attr: str
    env: str
    default: Any
    parse: Parser
    help: str
    shown: str = ""

    def read(self, env: Mapping[str, str]) -> Any:
        """The value in ``env``; unset or blank means the default."""
        raw = env.get(self.env)
        if raw is None or raw.strip() == "":
            return self.default
        return self.parse(self.env, raw)

    def readme_row(self) -> str:
        """This setting's row in the README's settings table."""
        if self.shown:
            shown = self.shown
        elif isinstance(self.default, bool):
            shown = f"`{str(self.default).lower()}`"
        else:
            shown = f"`{self.default}`"
        return f"| `{self.env}` | {shown} | {self.help} |"


# Every setting once, in the README's order; the README table is checked against it
# (tests/test_readme_truths.py) and Settings' defaults and from_env come from it.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "data_dir",
        "AUTOTRADER_DATA_DIR",
        Path("var"),
        _path,
        help="folder for the SQLite database and the key file (`--data-dir` wins)",
    ),
    Setting(
        "database_url",
        "AUTOTRADER_DATABASE_URL",
        "",
        _text,
        shown="`sqlite+aiosqlite:///<data dir>/autotrader.db`",
        help="SQLAlchemy async URL; `postgresql+asyncpg://user:pw@host/db` for PostgreSQL",
    ),
    Setting(
        "trusted_proxies",
        "AUTOTRADER_TRUSTED_PROXIES",
        "",
        _proxies,
        shown="*(none)*",
        help=(
            "addresses or CIDR ranges of reverse proxies whose `X-Forwarded-For` / "
            "`X-Forwarded-Proto` are believed; from anyone else they are ignored"
        ),
    ),
    Setting(
        "master_keys",
        "AUTOTRADER_MASTER_KEYS",
        "",
        _text,
        shown="*(key file)*",
        help=(
            "master key ring, `id:base64key` entries separated by commas; the **last** one "
            "encrypts, all decrypt. Unset: `<data dir>/master.key` is used, created with mode "
            "0600 on first run — only while the database is empty"
        ),
    ),
    Setting(
        "reveal_seconds",
        "AUTOTRADER_REVEAL_SECONDS",
        30,
        _whole(),
        help="how long a revealed key stays on screen",
    ),
    Setting(
        "stepup_seconds",
        "AUTOTRADER_STEPUP_SECONDS",
        300,
        _whole(),
        help="how long a step-up (password, plus code with Credentials 2FA) is trusted",
    ),
    Setting(
        "idle_timeout_seconds",
        "AUTOTRADER_IDLE_TIMEOUT_SECONDS",
        1800,
        _whole(),
        help="a session unused this long ends",
    ),
    Setting(
        "absolute_timeout_seconds",
        "AUTOTRADER_ABSOLUTE_TIMEOUT_SECONDS",
        43200,
        _whole(),
        help="a session ends this long after sign-in, used or not",
    ),
    Setting(
        "cookie_secure",
        "AUTOTRADER_COOKIE_SECURE",
        True,
        _bool,
        help=(
            "send the session cookie only over HTTPS. Browsers treat `http://127.0.0.1` and "
            "`localhost` as secure, so the default works locally; set `false` only to test over "
            "plain HTTP on another host"
        ),
    ),
    Setting(
        "issuer",
        "AUTOTRADER_ISSUER",
        "AutoTrader",
        _text,
        help="the name authenticator apps show (label `Issuer:username` and `issuer=`)",
    ),
    Setting(
        "log_level",
        "AUTOTRADER_LOG_LEVEL",
        "info",
        _choice(*LOG_LEVELS),
        help="`debug`, `info`, `warning`, `error`",
    ),
    Setting(
        "log_format",
        "AUTOTRADER_LOG_FORMAT",
        "text",
        _choice("text", "json"),
        help="`text`, or `json` for one JSON object per line",
    ),
    Setting(
        "event_retention_days",
        "AUTOTRADER_EVENT_RETENTION_DAYS",
        365,
        _whole(),
        help="security events older than this are deleted (at start-up and every 6 hours)",
    ),
    Setting(
        "registrations_per_hour",
        "AUTOTRADER_REGISTRATIONS_PER_HOUR",
        20,
        _whole(),
        help=(
            "sign-ups allowed per client address per hour (each costs an argon2id hash); then 429"
        ),
    ),
    Setting(
        "password_lock_seconds",
        "AUTOTRADER_PASSWORD_LOCK_SECONDS",
        1,
        _whole(),
        help=(
            "the first lock after 5 failed passwords for one account; each further failure "
            "doubles it, up to 15 minutes"
        ),
    ),
    Setting(
        "head_timeout_seconds",
        "AUTOTRADER_HEAD_TIMEOUT_SECONDS",
        10,
        _whole(),
        help=(
            "a connection that has not sent a complete request line and headers this long after "
            "opening (or after its last response) is closed"
        ),
    ),
    Setting(
        "max_connections",
        "AUTOTRADER_MAX_CONNECTIONS",
        0,
        _whole(minimum=0),
        shown="*(from the open-files limit)*",
        help=(
            "connections per worker; default ¾ of (the open-files limit − 64), at most 4,096. At "
            "the cap a newcomer replaces the connection waiting longest for a request"
        ),
    ),
    Setting(
        "max_connections_per_address",
        "AUTOTRADER_MAX_CONNECTIONS_PER_ADDRESS",
        128,
        _whole(minimum=0),
        help=(
            "concurrent connections per client address (`0`: no cap); trusted proxies are exempt"
        ),
    ),
    Setting(
        "smtp_url",
        "AUTOTRADER_SMTP_URL",
        "",
        _smtp_url,
        shown="*(none: `.eml` files in `<data dir>/outbox/`)*",
        help=(
            "`smtp://user:pass@host:587` (STARTTLS when offered) or `smtps://user:pass@host:465`;"
            " percent-encode special characters in the user and password"
        ),
    ),
    Setting(
        "mail_from",
        "AUTOTRADER_MAIL_FROM",
        "AutoTrader <autotrader@localhost>",
        _mail_from,
        help="the `From` of every message",
    ),
    Setting(
        "public_url",
        "AUTOTRADER_PUBLIC_URL",
        "",
        _public_url,
        shown="`http://localhost:<port>`",
        help=(
            "the address browsers use (scheme, host, port): links in alert messages point there, "
            "and passkeys are bound to its host name (the WebAuthn RP id) and accepted only from "
            "exactly this origin. It must be `https://` with a host name, or `http://localhost`; "
            "an IP address cannot carry passkeys, so start-up stops with an error saying so. "
            "Locally, open **http://localhost:8000** (not 127.0.0.1) to use passkeys"
        ),
    ),
    Setting(
        "cooldown_hours",
        "AUTOTRADER_COOLDOWN_HOURS",
        24,
        _whole(minimum=0),
        help=(
            "how long viewing keys and credentials is paused after a risky change; `0` turns the "
            "cool-down off"
        ),
    ),
    Setting(
        "api_rate_per_second",
        "AUTOTRADER_API_RATE_PER_SECOND",
        10,
        _whole(),
        help="API calls a second per key, across all workers (each worker allows its share)",
    ),
    Setting(
        "api_burst",
        "AUTOTRADER_API_BURST",
        20,
        _whole(),
        help="calls a key may make at once before the rate applies, across all workers",
    ),
    Setting(
        "workers",
        "AUTOTRADER_WORKERS",
        1,
        _whole(),
        shown="`serve --workers`",
        help=(
            "how many processes share the per-key rate limit; set it to the total when several "
            "machines serve one database"
        ),
    ),
)
_BY_ATTR = {s.attr: s for s in SETTINGS}


def _default(attr: str) -> Any:
    return _BY_ATTR[attr].default


@dataclass(frozen=True)
class Settings:
    """Every knob of the app; see the settings table in README.md."""

    data_dir: Path = _default("data_dir")
    database_url: str = _default("database_url")
    master_keys: str = field(default=_default("master_keys"), repr=False)
    host: str = "127.0.0.1"
    port: int = 8000
    reveal_seconds: int = _default("reveal_seconds")
    stepup_seconds: int = _default("stepup_seconds")
    idle_timeout_seconds: int = _default("idle_timeout_seconds")
    absolute_timeout_seconds: int = _default("absolute_timeout_seconds")
    cookie_secure: bool = _default("cookie_secure")
    issuer: str = _default("issuer")
    log_level: str = _default("log_level")
    log_format: str = _default("log_format")
    event_retention_days: int = _default("event_retention_days")
    trusted_proxies: str = _default("trusted_proxies")
    registrations_per_hour: int = _default("registrations_per_hour")
    password_lock_seconds: int = _default("password_lock_seconds")
    head_timeout_seconds: int = _default("head_timeout_seconds")
    max_connections: int = _default("max_connections")
    max_connections_per_address: int = _default("max_connections_per_address")
    smtp_url: str = field(default=_default("smtp_url"), repr=False)  # may carry the SMTP password
    mail_from: str = _default("mail_from")
    # Where browsers reach the app: links in messages point there, and passkeys are
    # bound to its host name (the RP id). Never taken from a request.
    public_url: str = _default("public_url")
    cooldown_hours: int = _default("cooldown_hours")
    # Per API key, across all workers (each worker enforces rate/workers, burst/workers).
    api_rate_per_second: int = _default("api_rate_per_second")
    api_burst: int = _default("api_burst")
    workers: int = _default("workers")  # worker processes serving the app (serve --workers)

    @property
    def origin(self) -> str:
        """AUTOTRADER_PUBLIC_URL, else http://localhost:<port> (an IP cannot carry passkeys)."""
        return (self.public_url or f"http://localhost:{self.port}").rstrip("/")

    @property
    def link_base(self) -> str:
        """The address links in messages start with (no trailing slash)."""
        return self.origin

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'autotrader.db').resolve()}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read AUTOTRADER_* variables; keyword overrides (CLI flags) win."""
        env = os.environ if env is None else env
        settings = cls(**{s.attr: s.read(env) for s in SETTINGS})
        given: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **given) if given else settings
