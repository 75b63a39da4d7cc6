"""Migration 0016 on a database with engagements: every active one's App Home sort key is due at
the first sweep after the upgrade (through the new index); the downgrade takes the columns away."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, text

from storage.db import make_engine
from storage.migrate import current_revision, upgrade
from tests.unit.test_migration_next_check import INSERT


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_makes_active_keys_due_and_downgrade_undoes_it(tmp_path, request, backend):
    from alembic import command

    from storage.migrate import alembic_config

    url = request.getfixturevalue("pg_url") if backend == "postgresql" else f"sqlite:///{tmp_path}/m.sqlite3"
    upgrade(url, "0015")
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
        upgrade(url, "0016")
        assert current_revision(url) == "0016"
        now = datetime.now(UTC) + timedelta(seconds=1)
        with engine.connect() as conn:
            rows = {
                status: (rank, until)
                for status, rank, until in conn.execute(
                    text("SELECT status, risk_rank, risk_until FROM engagement")
                )
            }
            due = conn.execute(
                text("SELECT channel_id FROM engagement WHERE status = 'active' AND risk_until <= :now"),
                {"now": now.replace(tzinfo=None) if backend == "sqlite" else now},
            ).all()
        assert due == [("C0",)]
        assert (
            rows["active"][0] is None and rows["cancelled"] == (None, None) and rows["live"] == (None, None)
        )
        until = rows["active"][1]
        until = datetime.fromisoformat(until) if isinstance(until, str) else until
        until = until.replace(tzinfo=UTC) if until.tzinfo is None else until
        assert before - timedelta(seconds=1) <= until <= now
        assert "ix_engagement_risk_until" in {i["name"] for i in inspect(engine).get_indexes("engagement")}

        command.downgrade(alembic_config(url), "0015")
        assert current_revision(url) == "0015"
        columns = {c["name"] for c in inspect(engine).get_columns("engagement")}
        assert not {"risk_rank", "risk_slip", "risk_overdue", "risk_until"} & columns
    finally:
        engine.dispose()
