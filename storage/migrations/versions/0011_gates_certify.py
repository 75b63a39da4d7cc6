"""sign-offs certify something: a gate's items, a re-request's note, the items open at a decision

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gate") as batch:
        batch.add_column(sa.Column("item_keys", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    with op.batch_alter_table("signoff_request") as batch:
        batch.add_column(sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True))
    with op.batch_alter_table("signoff_decision") as batch:
        batch.add_column(sa.Column("open_items", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("total_items", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signoff_decision") as batch:
        batch.drop_column("total_items")
        batch.drop_column("open_items")
    with op.batch_alter_table("signoff_request") as batch:
        batch.drop_column("note")
    with op.batch_alter_table("gate") as batch:
        batch.drop_column("item_keys")
