"""rating delivery: when Slack took the ask (ask_sent_at) and the lead's alert of a low score
(lead_told_at), and the sweep's lease (retry_at), so neither is lost if the process dies after
the commit and before Slack

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rating", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ask_sent_at", storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("lead_told_at", storage.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("retry_at", storage.types.UTCDateTime(timezone=True), nullable=True))
    # The rows so far are taken as delivered (their asks and alerts were sent, or are too old to
    # send now): the sweep retries only what is asked or rated from here on.
    op.execute("UPDATE rating SET ask_sent_at = asked_at")
    op.execute("UPDATE rating SET lead_told_at = rated_at WHERE score IS NOT NULL AND score <= 2")
    op.create_index("ix_rating_ask_unsent", "rating", ["ask_sent_at", "asked_at"])
    op.create_index("ix_rating_lead_untold", "rating", ["lead_told_at", "rated_at"])


def downgrade() -> None:
    op.drop_index("ix_rating_lead_untold", table_name="rating")
    op.drop_index("ix_rating_ask_unsent", table_name="rating")
    with op.batch_alter_table("rating", schema=None) as batch_op:
        batch_op.drop_column("retry_at")
        batch_op.drop_column("lead_told_at")
        batch_op.drop_column("ask_sent_at")
