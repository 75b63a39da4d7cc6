"""deals from the CRM: the deal, its contacts and their invitations; engagement.fields

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("engagement", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fields", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.create_table(
        "deal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deal_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("payload", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("engagement_id", sa.Integer(), nullable=True),
        sa.Column("lead_user_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("channel_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("channel_name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("problem", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("received_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["engagement_id"], ["engagement.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("deal_id"),
    )
    op.create_index("ix_deal_engagement_id", "deal", ["engagement_id"])
    op.create_index("ix_deal_work", "deal", ["state", "next_attempt_at"])
    op.create_table(
        "deal_contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deal_ref", sa.Integer(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
        sa.Column("invite_state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("invite_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("invite_error", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("invited_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reminded_day", sa.Integer(), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.ForeignKeyConstraint(["deal_ref"], ["deal.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("deal_ref", "email", name="uq_deal_contact_email"),
    )
    op.create_index("ix_deal_contact_deal_ref", "deal_contact", ["deal_ref"])


def downgrade() -> None:
    op.drop_index("ix_deal_contact_deal_ref", table_name="deal_contact")
    op.drop_table("deal_contact")
    op.drop_index("ix_deal_work", table_name="deal")
    op.drop_index("ix_deal_engagement_id", table_name="deal")
    op.drop_table("deal")
    with op.batch_alter_table("engagement", schema=None) as batch_op:
        batch_op.drop_column("fields")
