"""sample buckets: sampling a large window reads only the buckets its sample falls in

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_predictions_deployment_id_sample_bucket_timestamp_sample_key"


def upgrade() -> None:
    # SQLite can add only a virtual generated column; PostgreSQL before 18 only a stored one.
    persisted = op.get_bind().dialect.name != "sqlite"
    computed = sa.Computed("sample_key / 16777216", persisted=persisted)
    op.add_column("predictions", sa.Column("sample_bucket", sa.Integer(), computed, nullable=True))
    columns = ["deployment_id", "sample_bucket", "timestamp", "sample_key"]
    op.create_index(INDEX, "predictions", columns)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="predictions")
    with op.batch_alter_table("predictions") as batch_op:
        batch_op.drop_column("sample_bucket")
