"""engagement.risk_*: App Home's sort key per engagement, kept by the sweep, on an index

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("engagement", schema=None) as batch_op:
        batch_op.add_column(sa.Column("risk_rank", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("risk_slip", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("risk_overdue", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("risk_until", storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_engagement_risk_until", ["status", "risk_until"], unique=False)
    # Every active engagement's key is stale from now: the first sweep after the upgrade computes
    # them all (through the new index), and until it has, App Home sorts them as unknown. Bound
    # through the column's type, so SQLite stores the same text format as every other instant.
    engagement = sa.table(
        "engagement",
        sa.column("status", sa.String()),
        sa.column("risk_until", storage.types.UTCDateTime(timezone=True)),
    )
    op.execute(
        engagement.update()
        .where(engagement.c.status == "active")
        .values(risk_until=sa.bindparam("now", datetime.now(UTC), type_=storage.types.UTCDateTime()))
    )


def downgrade() -> None:
    with op.batch_alter_table("engagement", schema=None) as batch_op:
        batch_op.drop_index("ix_engagement_risk_until")
        batch_op.drop_column("risk_until")
        batch_op.drop_column("risk_overdue")
        batch_op.drop_column("risk_slip")
        batch_op.drop_column("risk_rank")
