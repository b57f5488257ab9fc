"""Several API keys per user: an id key, names, permissions, allow-lists, expiry, grace.

The existing key becomes each user's default key with every permission; nothing is
re-entered. ``api_keys`` is rebuilt (its primary key moves from ``user_id`` to a new
``id``): a new table is filled from the old one, which is then dropped and the new one
renamed. No other table references ``api_keys``, so dropping it breaks nothing; the
same statements work on SQLite and PostgreSQL.

Revision ID: 0005_api_keys
Revises: 0004_passkeys
Create Date: 2026-11-28 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0005_api_keys"
down_revision: str | None = "0004_passkeys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_text = AutoString
DEFAULT_NAME = "Default key"
ALL_PERMISSIONS = "read manage-accounts"  # webapp/key_rules.py names them


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "api_keys_new",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", _text(length=64), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("secret", _text(), nullable=False),
        sa.Column("digest", _text(length=64), nullable=False),
        sa.Column("hint", _text(length=8), nullable=False),
        sa.Column("permissions", _text(length=64), nullable=False),
        sa.Column("allow_ips", _text(length=2000), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("last_used_at", sa.Float(), nullable=True),
        sa.Column("last_used_ip", _text(length=64), nullable=False),
        sa.Column("prev_secret", _text(), nullable=True),
        sa.Column("prev_digest", _text(length=64), nullable=True),
        sa.Column("prev_hint", _text(length=8), nullable=True),
        sa.Column("prev_until", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    # Ordered by user id, so each user's default key gets the id a fresh install would.
    op.execute(
        sa.text(
            "INSERT INTO api_keys_new (user_id, name, is_default, secret, digest, hint, "
            "permissions, allow_ips, expires_at, created_at, last_used_at, last_used_ip) "
            "SELECT user_id, :name, true, secret, digest, hint, :permissions, '', NULL, "
            "created_at, last_used_at, '' FROM api_keys ORDER BY user_id"
        ).bindparams(name=DEFAULT_NAME, permissions=ALL_PERMISSIONS)
    )
    op.drop_table("api_keys")
    op.rename_table("api_keys_new", "api_keys")
    if op.get_bind().dialect.name == "postgresql":
        # Constraints and the serial's sequence keep their first names: give them the
        # names a fresh install has.
        op.execute("ALTER TABLE api_keys RENAME CONSTRAINT api_keys_new_pkey TO api_keys_pkey")
        op.execute(
            "ALTER TABLE api_keys RENAME CONSTRAINT api_keys_new_user_id_fkey "
            "TO api_keys_user_id_fkey"
        )
        op.execute("ALTER SEQUENCE api_keys_new_id_seq RENAME TO api_keys_id_seq")
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.create_index("ix_api_keys_digest", ["digest"], unique=True)
        batch_op.create_index("ix_api_keys_prev_digest", ["prev_digest"], unique=True)
        batch_op.create_index("ix_api_keys_user_id", ["user_id"], unique=False)

    op.create_table(
        "api_key_uses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("method", _text(length=8), nullable=False),
        sa.Column("path", _text(length=200), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("ip", _text(length=64), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("api_key_uses") as batch_op:
        batch_op.create_index("ix_api_key_uses_key_id_id", ["key_id", "id"], unique=False)


def downgrade() -> None:
    """Undo this revision: only each user's default key survives."""
    op.drop_table("api_key_uses")
    op.create_table(
        "api_keys_old",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("secret", _text(), nullable=False),
        sa.Column("digest", _text(length=64), nullable=False),
        sa.Column("hint", _text(length=8), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("last_used_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.execute(
        "INSERT INTO api_keys_old (user_id, secret, digest, hint, created_at, last_used_at) "
        "SELECT user_id, secret, digest, hint, created_at, last_used_at FROM api_keys "
        "WHERE is_default"
    )
    op.drop_table("api_keys")
    op.rename_table("api_keys_old", "api_keys")
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.create_index("ix_api_keys_digest", ["digest"], unique=True)
