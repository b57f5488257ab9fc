"""Users: create, find, update the password hash."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.models import User


class UsernameTaken(Exception):
    """Another account already has this username."""


async def by_username(session: AsyncSession, username: str) -> User | None:
    """The user with this (case-insensitive) username, if any."""
    result = await session.exec(select(User).where(User.username == username.lower()))
    return result.first()


async def by_id(session: AsyncSession, user_id: int) -> User | None:
    """The user with this id, if any."""
    return await session.get(User, user_id)


async def create(session: AsyncSession, username: str, password_hash: str, now: float) -> User:
    """Insert a new user; raise UsernameTaken if the name is in use."""
    user = User(
        username=username.lower(),
        password_hash=password_hash,
        created_at=now,
        password_changed_at=now,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        # Two sign-ups racing for one name: the unique index decides.
        raise UsernameTaken(username) from exc
    return user


async def set_password_hash(session: AsyncSession, user: User, password_hash: str) -> None:
    """Store a new hash of the same password (a rehash with new parameters)."""
    user.password_hash = password_hash
    session.add(user)
