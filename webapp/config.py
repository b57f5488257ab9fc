"""Settings, read once from the environment (AUTOTRADER_*) and CLI flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path


class ConfigError(ValueError):
    """A setting has a value the app cannot use."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


LOG_LEVELS = ("debug", "info", "warning", "error")


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    raw = (env.get(name) or default).strip().lower()
    if raw not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def _proxies(raw: str) -> str:
    from webapp.security.proxies import parse_networks

    try:
        parse_networks(raw)
    except ValueError as exc:
        raise ConfigError(f"AUTOTRADER_TRUSTED_PROXIES: {exc}") from exc
    return raw


def _smtp_url(raw: str) -> str:
    from webapp.alerts.smtp import parse_url

    try:
        parse_url(raw.strip())
    except ValueError as exc:
        # The message never repeats the URL: it may hold the SMTP password.
        raise ConfigError(f"AUTOTRADER_SMTP_URL: {exc}") from exc
    return raw.strip()


def _mail_from(raw: str) -> str:
    value = raw.strip() or "AutoTrader <autotrader@localhost>"
    if any(ord(c) < 32 or ord(c) == 127 for c in value) or "@" not in value:
        raise ConfigError(f"AUTOTRADER_MAIL_FROM must be one address line, got {value!r}")
    return value


def _public_url(raw: str) -> str:
    from webapp.security.webauthn import relying_party

    value = raw.strip().rstrip("/")
    if value:
        relying_party(value)  # raises ConfigError saying why it cannot be an RP id
    return value


@dataclass(frozen=True)
class Settings:
    """Every knob of the app; see the settings table in README.md."""

    data_dir: Path = Path("var")
    database_url: str = ""
    master_keys: str = field(default="", repr=False)
    host: str = "127.0.0.1"
    port: int = 8000
    reveal_seconds: int = 30
    stepup_seconds: int = 300
    idle_timeout_seconds: int = 1800
    absolute_timeout_seconds: int = 12 * 3600
    cookie_secure: bool = True
    issuer: str = "AutoTrader"
    log_level: str = "info"
    log_format: str = "text"
    event_retention_days: int = 365
    trusted_proxies: str = ""
    registrations_per_hour: int = 20
    password_lock_seconds: int = 1
    head_timeout_seconds: int = 10
    max_connections: int = 0  # 0: sized from the open-files limit (webapp/connections.py)
    max_connections_per_address: int = 128  # 0: no per-address cap
    smtp_url: str = field(default="", repr=False)  # may carry the SMTP password
    mail_from: str = "AutoTrader <autotrader@localhost>"
    # Where browsers reach the app: links in messages point there, and passkeys are
    # bound to its host name (the RP id). Never taken from a request.
    public_url: str = ""
    cooldown_hours: int = 24
    # Per API key, across all workers (each worker enforces rate/workers, burst/workers).
    api_rate_per_second: int = 10
    api_burst: int = 20
    workers: int = 1  # worker processes serving the app (serve --workers sets it)

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
        settings = cls(
            data_dir=Path(env.get("AUTOTRADER_DATA_DIR") or "var"),
            database_url=env.get("AUTOTRADER_DATABASE_URL", ""),
            master_keys=env.get("AUTOTRADER_MASTER_KEYS", ""),
            reveal_seconds=_int(env, "AUTOTRADER_REVEAL_SECONDS", 30),
            stepup_seconds=_int(env, "AUTOTRADER_STEPUP_SECONDS", 300),
            idle_timeout_seconds=_int(env, "AUTOTRADER_IDLE_TIMEOUT_SECONDS", 1800),
            absolute_timeout_seconds=_int(env, "AUTOTRADER_ABSOLUTE_TIMEOUT_SECONDS", 43200),
            cookie_secure=_bool(env, "AUTOTRADER_COOKIE_SECURE", True),
            issuer=env.get("AUTOTRADER_ISSUER") or "AutoTrader",
            log_level=_choice(env, "AUTOTRADER_LOG_LEVEL", "info", LOG_LEVELS),
            log_format=_choice(env, "AUTOTRADER_LOG_FORMAT", "text", ("text", "json")),
            event_retention_days=_int(env, "AUTOTRADER_EVENT_RETENTION_DAYS", 365),
            trusted_proxies=_proxies(env.get("AUTOTRADER_TRUSTED_PROXIES", "")),
            registrations_per_hour=_int(env, "AUTOTRADER_REGISTRATIONS_PER_HOUR", 20),
            password_lock_seconds=_int(env, "AUTOTRADER_PASSWORD_LOCK_SECONDS", 1),
            head_timeout_seconds=_int(env, "AUTOTRADER_HEAD_TIMEOUT_SECONDS", 10),
            max_connections=_int(env, "AUTOTRADER_MAX_CONNECTIONS", 0, minimum=0),
            max_connections_per_address=_int(
                env, "AUTOTRADER_MAX_CONNECTIONS_PER_ADDRESS", 128, minimum=0
            ),
            smtp_url=_smtp_url(env.get("AUTOTRADER_SMTP_URL", "")),
            mail_from=_mail_from(env.get("AUTOTRADER_MAIL_FROM", "")),
            public_url=_public_url(env.get("AUTOTRADER_PUBLIC_URL", "")),
            cooldown_hours=_int(env, "AUTOTRADER_COOLDOWN_HOURS", 24, minimum=0),
            api_rate_per_second=_int(env, "AUTOTRADER_API_RATE_PER_SECOND", 10),
            api_burst=_int(env, "AUTOTRADER_API_BURST", 20),
            workers=_int(env, "AUTOTRADER_WORKERS", 1),
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **given) if given else settings
