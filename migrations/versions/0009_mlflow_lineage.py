"""mlflow lineage: a model's registry URI, a version's origin outside Driftwise

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("models") as batch_op:
        batch_op.add_column(sa.Column("artifact_uri", sa.String(length=500), nullable=True))
    with op.batch_alter_table("model_versions") as batch_op:
        batch_op.add_column(sa.Column("lineage", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch_op:
        batch_op.drop_column("lineage")
    with op.batch_alter_table("models") as batch_op:
        batch_op.drop_column("artifact_uri")
