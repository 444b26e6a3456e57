"""log variants: per-class probabilities, raw lines of waiting halves, files waiting

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN on both backends: no table copy of the largest table.
    op.add_column("predictions", sa.Column("probabilities", sa.Text(), nullable=True))
    op.add_column("pending_halves", sa.Column("raw", sa.LargeBinary(), nullable=True))
    op.add_column(
        "sources", sa.Column("files_waiting", sa.Integer(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch_op:
        batch_op.drop_column("files_waiting")
    with op.batch_alter_table("pending_halves") as batch_op:
        batch_op.drop_column("raw")
    # A batch copy of predictions cannot carry its generated column: drop in place.
    op.drop_column("predictions", "probabilities")
