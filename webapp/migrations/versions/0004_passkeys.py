"""Passkeys: the passkeys and passkey_challenges tables, a user handle and a count on users.

Revision ID: 0004_passkeys
Revises: 0003_alerts
Create Date: 2026-11-28 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0004_passkeys"
down_revision: str | None = "0003_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_text = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    """Apply this revision."""
    # Plain ADD COLUMN, not a batch copy: on SQLite a batch would drop and re-create
    # users, which every other table references.
    op.add_column("users", sa.Column("passkey_handle", _text(length=64), nullable=True))
    # Existing users have no passkeys: 0 (the model declares the same server default).
    op.add_column(
        "users", sa.Column("passkey_count", sa.Integer(), nullable=False, server_default="0")
    )
    op.create_index("ix_users_passkey_handle", "users", ["passkey_handle"], unique=True)

    op.create_table(
        "passkeys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("credential_id", _text(length=1400), nullable=False),
        sa.Column("credential_data", _text(), nullable=False),
        sa.Column("sign_count", sa.Integer(), nullable=False),
        sa.Column("name", _text(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("last_used_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("passkeys") as batch_op:
        batch_op.create_index("ix_passkeys_user_id", ["user_id"], unique=False)
        batch_op.create_index("ix_passkeys_credential_id", ["credential_id"], unique=True)

    op.create_table(
        "passkey_challenges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("binding", _text(length=80), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", _text(length=16), nullable=False),
        sa.Column("challenge", _text(length=64), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("passkey_challenges") as batch_op:
        batch_op.create_index("ix_passkey_challenges_binding", ["binding"], unique=False)
        batch_op.create_index("ix_passkey_challenges_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("passkey_challenges")
    op.drop_table("passkeys")
    op.drop_index("ix_users_passkey_handle", table_name="users")
    op.drop_column("users", "passkey_count")
    op.drop_column("users", "passkey_handle")
