"""Who acts: the signed-in user, their session record, and where they act from."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request

from webapp.context import AppContext, get_ctx
from webapp.models import User
from webapp.repositories import events
from webapp.security import holds, policy
from webapp.security.policy import Proofs
from webapp.security.sessions import Auth, client_ip, user_agent


@dataclass(frozen=True)
class Actor:
    """The context a service acts in: app, user, session, address, browser, proofs."""

    ctx: AppContext
    user: User
    record_id: str
    ip: str
    agent: str
    proofs: Proofs

    @property
    def user_id(self) -> int:
        """The acting user's id."""
        assert self.user.id is not None
        return self.user.id

    @classmethod
    def of(cls, request: Request, auth: Auth) -> Actor:
        """The actor of a signed-in request, with the proofs its session holds now."""
        return cls(
            ctx=get_ctx(request),
            user=auth.user,
            record_id=auth.record_id,
            ip=client_ip(request),
            agent=user_agent(request),
            proofs=policy.current(request),
        )

    def require(self, action: str, user: User | None = None) -> None:
        """Raise policy.Denied unless this actor's proofs allow ``action``, and
        holds.Held while a lock-down or cool-down holds it."""
        who = user or self.user
        now = self.ctx.now()
        policy.require(self.proofs, who, action, now, self.ctx.settings.stepup_seconds)
        holds.check(who, action, now, self.ctx.settings.cooldown_hours)

    async def note(self, db: AsyncSession, kind: str, detail: str = "") -> None:
        """Record a security event by this actor (the caller's unit of work commits it)."""
        await events.record(
            db,
            kind,
            self.ctx.now(),
            user_id=self.user_id,
            ip=self.ip,
            user_agent=self.agent,
            detail=detail,
        )
