"""project_page_canvas: what the bot last wrote to each project page canvas, per section, so that
a refresh edits only the lines that changed (after a restart, and in every replica)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No rows to start with: a canvas written before this is replaced whole at its next refresh.
    op.create_table(
        "project_page_canvas",
        sa.Column("canvas_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("engagement_id", sa.Integer(), nullable=False),
        sa.Column("written", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("written_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["engagement_id"], ["engagement.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("canvas_id"),
    )
    op.create_index("ix_project_page_canvas_engagement_id", "project_page_canvas", ["engagement_id"])


def downgrade() -> None:
    op.drop_index("ix_project_page_canvas_engagement_id", table_name="project_page_canvas")
    op.drop_table("project_page_canvas")
