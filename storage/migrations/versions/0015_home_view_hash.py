"""home_viewer.view_hash: the hash of the Home last published, sent with the next views.publish

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "home_viewer", sa.Column("view_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("home_viewer") as batch:
        batch.drop_column("view_hash")
