"""serving advice: measured compute per version, latency target and prices per deployment

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch_op:
        batch_op.add_column(sa.Column("compute", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("deployments") as batch_op:
        batch_op.add_column(sa.Column("serving", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("advice", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch_op:
        batch_op.drop_column("advice")
        batch_op.drop_column("serving")
    with op.batch_alter_table("model_versions") as batch_op:
        batch_op.drop_column("compute")
