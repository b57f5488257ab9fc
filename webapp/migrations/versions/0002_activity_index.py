"""Index security events by (user_id, id) for the activity list and "Show more".

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 19:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("security_events") as batch_op:
        batch_op.create_index("ix_security_events_user_id_id", ["user_id", "id"])


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("security_events") as batch_op:
        batch_op.drop_index("ix_security_events_user_id_id")
