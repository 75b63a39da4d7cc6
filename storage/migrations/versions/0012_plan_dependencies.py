"""a plan that stays true: items' prerequisites, due shares, what settles them; health told

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "item_dependency",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("engagement_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("requires_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["engagement_id"], ["engagement.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["requires_id"], ["item.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("item_id", "requires_id", name="uq_item_dependency"),
    )
    op.create_index("ix_item_dependency_engagement_id", "item_dependency", ["engagement_id"])
    with op.batch_alter_table("item") as batch:
        batch.add_column(sa.Column("due_share", sa.Integer(), nullable=False, server_default="100"))
        batch.add_column(sa.Column("settled_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    with op.batch_alter_table("engagement") as batch:
        batch.add_column(
            sa.Column("health_level", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
        batch.add_column(
            sa.Column("health_reason", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("engagement") as batch:
        batch.drop_column("health_reason")
        batch.drop_column("health_level")
    with op.batch_alter_table("item") as batch:
        batch.drop_column("settled_by")
        batch.drop_column("due_share")
    op.drop_index("ix_item_dependency_engagement_id", table_name="item_dependency")
    op.drop_table("item_dependency")
