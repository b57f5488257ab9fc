"""What every request needs: settings, keys, database, hasher, clock, templates."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request

from webapp.config import Settings
from webapp.passwords import Passwords
from webapp.security.api_lookup import ApiKeyLookup
from webapp.security.rate_limit import RateLimiter
from webapp.usage_queue import UsageQueue
from webapp.vault import KeyRing, KeySource

Clock = Callable[[], float]


def system_clock() -> float:
    """Seconds since the epoch, UTC."""
    return time.time()


@dataclass
class AppContext:
    """Shared services, built once in the lifespan and kept on ``app.state.ctx``."""

    settings: Settings
    key_source: KeySource
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    passwords: Passwords
    clock: Clock
    api_lookup: ApiKeyLookup
    # This worker's share of the per-key API rate limit (webapp/security/rate_limit.py).
    rate_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(10, 20))
    usage: UsageQueue = field(default_factory=UsageQueue)  # API calls waiting to be logged

    @property
    def keys(self) -> KeyRing:
        """The master key ring (re-read if rotate-keys changed the key file)."""
        return self.key_source.ring()

    def now(self) -> float:
        """The current time from the injected clock."""
        return self.clock()


def get_ctx(request: Request) -> AppContext:
    """The app context of the request's app."""
    ctx: AppContext = request.app.state.ctx
    return ctx
