"""The example's table, its migration, and sealing the note (docs/extending.md, part 2).

The product keeps its tables in ``webapp/models.py`` and its migrations in
``webapp/migrations/versions/``. This example lives outside the package, so it keeps
its table on its own ``MetaData`` (the app's schema head stays the app's) and applies
its migration with the same Alembic operations a revision file uses.
"""

from __future__ import annotations

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Float, ForeignKey, Integer, MetaData, String, Table, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from webapp.vault import KeyRing, aad

METADATA = MetaData()
NOTES = Table(
    "example_notes",
    METADATA,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("secret", String, nullable=False),  # AES-GCM ciphertext, never the note
    Column("updated_at", Float, nullable=False),
)
MAX_NOTE = 500


def upgrade(op: Operations) -> None:
    """What a revision file's ``upgrade()`` would do: create the table."""
    op.create_table(
        "example_notes",
        Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        Column("secret", String, nullable=False),
        Column("updated_at", Float, nullable=False),
    )


def downgrade(op: Operations) -> None:
    """And its ``downgrade()``."""
    op.drop_table("example_notes")


async def migrate(engine: AsyncEngine, step=upgrade) -> None:
    """Run ``step`` (upgrade or downgrade) on the app's database."""

    def run(connection: Connection) -> None:
        step(Operations(MigrationContext.configure(connection)))

    async with engine.begin() as conn:
        await conn.run_sync(run)


def _bound(user_id: int) -> str:
    # Bind the ciphertext to its table, row and column: copied elsewhere it won't open.
    return aad("example_notes", user_id, "secret")


async def save(conn: AsyncConnection, keys: KeyRing, user_id: int, note: str, now: float) -> None:
    """Encrypt and store the user's note (one per user)."""
    sealed = keys.encrypt(note, _bound(user_id))
    await conn.execute(NOTES.delete().where(NOTES.c.user_id == user_id))
    await conn.execute(NOTES.insert().values(user_id=user_id, secret=sealed, updated_at=now))


async def load(conn: AsyncConnection, keys: KeyRing, user_id: int) -> str | None:
    """The user's note, decrypted; None if they have none."""
    token = await conn.scalar(select(NOTES.c.secret).where(NOTES.c.user_id == user_id))
    return None if token is None else keys.decrypt_text(token, _bound(user_id))
