"""who is who (customer organisation, Enterprise Grid), audit append-only on every SQL path,
unconfirmed reminder posts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# SQLite's INSERT OR REPLACE (and REPLACE INTO) over an existing id deletes the old row without
# firing DELETE triggers (unless recursive_triggers is on for that connection): refuse the insert.
SQLITE_NO_REPLACE = """CREATE TRIGGER audit_event_no_replace BEFORE INSERT ON audit_event
   WHEN NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM audit_event WHERE id = NEW.id)
   BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"""
# TRUNCATE fires no row triggers on PostgreSQL; a statement trigger refuses it.
PG_NO_TRUNCATE = """CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()"""


def _str(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    with op.batch_alter_table("engagement", schema=None) as batch_op:
        batch_op.add_column(sa.Column("vendor_enterprise_id", _str(32), nullable=True))
        batch_op.add_column(sa.Column("customer_team_id", _str(32), nullable=True))
        batch_op.add_column(sa.Column("customer_enterprise_id", _str(32), nullable=True))
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("enterprise_id", _str(32), nullable=True))
    with op.batch_alter_table("user_profile", schema=None) as batch_op:
        batch_op.add_column(sa.Column("enterprise_id", _str(32), nullable=True))
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("unconfirmed_since", storage.types.UTCDateTime(timezone=True), nullable=True)
        )
    # Engagements started before this revision: the installing team was the only vendor team and
    # every other team counted as the customer. Pin the customer to the team that has acted or been
    # given a customer role, so those engagements keep working.
    op.execute(
        """UPDATE engagement SET customer_team_id = (
             SELECT m.team_id FROM member m
             WHERE m.engagement_id = engagement.id AND m.team_id IS NOT NULL
               AND m.team_id <> engagement.team_id
             ORDER BY m.id LIMIT 1)
           WHERE customer_team_id IS NULL"""
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(SQLITE_NO_REPLACE)
    elif dialect == "postgresql":
        op.execute(PG_NO_TRUNCATE)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_replace")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.drop_column("unconfirmed_since")
    with op.batch_alter_table("user_profile", schema=None) as batch_op:
        batch_op.drop_column("enterprise_id")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("enterprise_id")
    with op.batch_alter_table("engagement", schema=None) as batch_op:
        batch_op.drop_column("customer_enterprise_id")
        batch_op.drop_column("customer_team_id")
        batch_op.drop_column("vendor_enterprise_id")
