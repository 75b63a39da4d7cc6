"""the sweep's next check: engagement.next_check_at on an index, and next-check requests

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("engagement", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("next_check_at", storage.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_engagement_next_check", ["status", "next_check_at"], unique=False)
    op.create_table(
        "next_check_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("engagement_id", sa.Integer(), nullable=False),
        sa.Column("at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["engagement_id"], ["engagement.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("next_check_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_next_check_request_engagement_id"), ["engagement_id"], unique=False
        )
    # Every active engagement is checked at the first sweep after the upgrade, which computes
    # its real next check. Bound through the column's type, so SQLite stores the same text
    # format as every other instant (its comparisons are on text).
    engagement = sa.table(
        "engagement",
        sa.column("status", sa.String()),
        sa.column("next_check_at", storage.types.UTCDateTime(timezone=True)),
    )
    op.execute(
        engagement.update()
        .where(engagement.c.status == "active")
        .values(next_check_at=sa.bindparam("now", datetime.now(UTC), type_=storage.types.UTCDateTime()))
    )


def downgrade() -> None:
    with op.batch_alter_table("next_check_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_next_check_request_engagement_id"))
    op.drop_table("next_check_request")
    with op.batch_alter_table("engagement", schema=None) as batch_op:
        batch_op.drop_index("ix_engagement_next_check")
        batch_op.drop_column("next_check_at")
