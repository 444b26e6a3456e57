"""reference preparations: a reference set's drift-test columns, stored per cap

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-03 12:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reference_preparations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference_set_id", sa.Integer(), nullable=False),
        sa.Column("cap", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reference_set_id"],
            ["reference_sets.id"],
            name=op.f("fk_reference_preparations_reference_set_id_reference_sets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reference_preparations")),
        sa.UniqueConstraint(
            "reference_set_id",
            "cap",
            "key",
            name=op.f("uq_reference_preparations_reference_set_id_cap_key"),
        ),
    )


def downgrade() -> None:
    op.drop_table("reference_preparations")
