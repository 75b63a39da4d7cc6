"""Migration 0006 on a database with engagements: the active ones are checked at the first sweep
after the upgrade; the downgrade takes the column and the request table away again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, text

from storage.db import make_engine
from storage.migrate import current_revision, upgrade

INSERT = """INSERT INTO engagement (team_id, channel_id, customer_name, size, kickoff_on, timezone,
  pilot, ingest, status, phase_index, work_start, work_end, work_days, cadence_days, nudges_paused,
  created_by, created_at, updated_at)
VALUES ('T0VENDOR', :channel, :name, 'small', '2026-11-30', 'Europe/Berlin', false, 'warehouse',
  :status, 1, '09:00', '17:00', '0,1,2,3,4', 2, false, 'U0LEAD', :at, :at)"""


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_checks_active_engagements_first_and_downgrade_undoes_it(tmp_path, request, backend):
    from alembic import command

    from storage.migrate import alembic_config

    url = request.getfixturevalue("pg_url") if backend == "postgresql" else f"sqlite:///{tmp_path}/m.sqlite3"
    upgrade(url, "0005")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for n, status in enumerate(("active", "cancelled", "live")):
                conn.execute(
                    text(INSERT),
                    {
                        "channel": f"C{n}",
                        "name": f"Customer {n}",
                        "status": status,
                        "at": "2026-11-30 08:00:00",
                    },
                )
        before = datetime.now(UTC)
        upgrade(url, "0006")
        assert current_revision(url) == "0006"
        with engine.connect() as conn:
            rows = dict(conn.execute(text("SELECT status, next_check_at FROM engagement")).all())
            assert conn.execute(text("SELECT COUNT(*) FROM next_check_request")).scalar() == 0
            # The sweep's query finds exactly the active one, through the new index.
            due = conn.execute(
                text("SELECT channel_id FROM engagement WHERE status = 'active' AND next_check_at <= :now"),
                {
                    "now": (datetime.now(UTC) + timedelta(seconds=1)).replace(tzinfo=None)
                    if backend == "sqlite"
                    else datetime.now(UTC) + timedelta(seconds=1)
                },
            ).all()
        assert rows["cancelled"] is None and rows["live"] is None and rows["active"] is not None
        assert due == [("C0",)]
        checked = rows["active"]
        checked = datetime.fromisoformat(checked) if isinstance(checked, str) else checked
        checked = checked.replace(tzinfo=UTC) if checked.tzinfo is None else checked
        assert before - timedelta(seconds=1) <= checked <= datetime.now(UTC)
        assert "ix_engagement_next_check" in {i["name"] for i in inspect(engine).get_indexes("engagement")}

        command.downgrade(alembic_config(url), "0005")
        assert current_revision(url) == "0005"
        inspector = inspect(engine)
        assert "next_check_at" not in {c["name"] for c in inspector.get_columns("engagement")}
        assert "next_check_request" not in inspector.get_table_names()
    finally:
        engine.dispose()
