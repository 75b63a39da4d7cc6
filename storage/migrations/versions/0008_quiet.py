"""a quiet channel: nudges in threads (nudge_message), each dry-run attempt kept (dry_run_attempt),
and a final go-live gate text that no longer says the dry run passed

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# The default playbook's final gate used to claim what it waits for.
OLD_FINAL_TEXT = "Production is ready and the dry run passed; you approve going live."
NEW_FINAL_TEXT = "Approve going live once production is ready and the go-live dry run has passed."


def upgrade() -> None:
    op.create_table(
        "nudge_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("engagement_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("channel_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("ts", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("thread_ts", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("people", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("entries", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["engagement_id"], ["engagement.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel_id", "ts", name="uq_nudge_message_ts"),
    )
    with op.batch_alter_table("nudge_message", schema=None) as batch_op:
        batch_op.create_index("ix_nudge_message_live", ["engagement_id", "status"], unique=False)

    op.create_table(
        "dry_run_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("engagement_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("recorded_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("recorded_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("superseded_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("scheduled_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("channel_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("ts", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("thread_ts", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.ForeignKeyConstraint(["engagement_id"], ["engagement.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("engagement_id", "number", name="uq_dry_run_number"),
    )
    with op.batch_alter_table("dry_run_attempt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dry_run_attempt_engagement_id"), ["engagement_id"], unique=False)

    _keep_scheduled_dry_runs()
    gate = sa.table("gate", sa.column("key", sa.String()), sa.column("description", sa.String()))
    op.execute(
        gate.update()
        .where(gate.c.key == "final_golive", gate.c.description == OLD_FINAL_TEXT)
        .values(description=NEW_FINAL_TEXT)
    )


def _keep_scheduled_dry_runs() -> None:
    """An engagement with a dry run scheduled gets it as its first attempt, announced by the
    newest dry-run announcement in the ledger (its reminders go in that message's thread)."""
    when = storage.types.UTCDateTime(timezone=True)
    engagement = sa.table(
        "engagement",
        sa.column("id", sa.Integer()),
        sa.column("created_by", sa.String()),
        sa.column("dryrun_at", when),
        sa.column("dryrun_outcome", sa.String()),
        sa.column("dryrun_notes", sa.String()),
        sa.column("dryrun_recorded_by", sa.String()),
        sa.column("updated_at", when),
    )
    posted = sa.table(
        "posted_message",
        sa.column("id", sa.Integer()),
        sa.column("engagement_id", sa.Integer()),
        sa.column("channel_id", sa.String()),
        sa.column("ts", sa.String()),
        sa.column("kind", sa.String()),
    )
    attempt = sa.table(
        "dry_run_attempt",
        sa.column("engagement_id", sa.Integer()),
        sa.column("number", sa.Integer()),
        sa.column("at", when),
        sa.column("outcome", sa.String()),
        sa.column("notes", sa.String()),
        sa.column("recorded_by", sa.String()),
        sa.column("recorded_at", when),
        sa.column("scheduled_by", sa.String()),
        sa.column("created_at", when),
        sa.column("channel_id", sa.String()),
        sa.column("ts", sa.String()),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(engagement).where(engagement.c.dryrun_at.is_not(None))).all()
    for row in rows:
        announced = bind.execute(
            sa.select(posted.c.channel_id, posted.c.ts)
            .where(posted.c.engagement_id == row.id, posted.c.kind == "dryrun_scheduled")
            .order_by(posted.c.id.desc())
            .limit(1)
        ).first()
        bind.execute(
            attempt.insert().values(
                engagement_id=row.id,
                number=1,
                at=row.dryrun_at,
                outcome=row.dryrun_outcome,
                notes=row.dryrun_notes,
                recorded_by=row.dryrun_recorded_by,
                recorded_at=row.updated_at if row.dryrun_outcome else None,
                scheduled_by=row.created_by,
                created_at=row.updated_at,
                channel_id=announced.channel_id if announced else None,
                ts=announced.ts if announced else None,
            )
        )


def downgrade() -> None:
    gate = sa.table("gate", sa.column("key", sa.String()), sa.column("description", sa.String()))
    op.execute(
        gate.update()
        .where(gate.c.key == "final_golive", gate.c.description == NEW_FINAL_TEXT)
        .values(description=OLD_FINAL_TEXT)
    )
    with op.batch_alter_table("dry_run_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dry_run_attempt_engagement_id"))
    op.drop_table("dry_run_attempt")
    with op.batch_alter_table("nudge_message", schema=None) as batch_op:
        batch_op.drop_index("ix_nudge_message_live")
    op.drop_table("nudge_message")
