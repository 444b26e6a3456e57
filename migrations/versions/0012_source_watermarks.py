"""source watermarks: how far each source has been read; late predictions looked at

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch_op:
        batch_op.add_column(sa.Column("read_to", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("caught_up_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("deployments") as batch_op:
        batch_op.add_column(sa.Column("late_checked_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch_op:
        batch_op.drop_column("late_checked_id")
    with op.batch_alter_table("sources") as batch_op:
        batch_op.drop_column("caught_up_at")
        batch_op.drop_column("read_to")
