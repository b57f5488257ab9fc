"""Security alerts: sealed email addresses, alert switches, lock-down, cool-down, outbox.

Revision ID: 0003_alerts
Revises: 0002
Create Date: 2026-11-28 09:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0003_alerts"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TEXT = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    """Apply this revision."""
    # Plain ADD COLUMN (every column is nullable or has a constant default): a batch
    # copy of ``users`` would have to drop a table other tables' foreign keys point at.
    for column in (
        sa.Column("email", _TEXT(), nullable=True),
        sa.Column("email_pending", _TEXT(), nullable=True),
        sa.Column("email_pending_at", sa.Float(), nullable=True),
        sa.Column("alert_signin", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("alert_key_viewed", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("locked_at", sa.Float(), nullable=True),
        sa.Column("cooldown_from", sa.Float(), nullable=True),
        sa.Column("cooldown_reason", _TEXT(length=64), nullable=False, server_default=""),
    ):
        op.add_column("users", column)
    op.create_table(
        "mail_outbox",
        sa.Column("id", _TEXT(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", _TEXT(length=64), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("ip", _TEXT(length=64), nullable=False),
        sa.Column("user_agent", _TEXT(length=256), nullable=False),
        sa.Column("detail", _TEXT(length=256), nullable=False),
        sa.Column("recipient", _TEXT(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.Column("sent_at", sa.Float(), nullable=True),
        sa.Column("gave_up_at", sa.Float(), nullable=True),
        sa.Column("error", _TEXT(length=200), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mail_outbox") as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_outbox_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_mail_outbox_next_at"), ["next_at"], unique=False)
    op.create_table(
        "mail_tokens",
        sa.Column("digest", _TEXT(length=64), nullable=False),
        sa.Column("purpose", _TEXT(length=16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("mail_id", _TEXT(length=32), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("used_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("digest"),
    )
    with op.batch_alter_table("mail_tokens") as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_tokens_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("mail_tokens") as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_tokens_user_id"))
    op.drop_table("mail_tokens")
    with op.batch_alter_table("mail_outbox") as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_outbox_next_at"))
        batch_op.drop_index(batch_op.f("ix_mail_outbox_user_id"))
    op.drop_table("mail_outbox")
    for column in (
        "cooldown_reason",
        "cooldown_from",
        "locked_at",
        "alert_key_viewed",
        "alert_signin",
        "email_pending_at",
        "email_pending",
        "email",
    ):
        op.drop_column("users", column)
