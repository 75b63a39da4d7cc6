"""Migration 0008 on a database with engagements: a dry run already scheduled becomes the first
attempt (announced by the newest announcement in the ledger, its outcome kept), the default final
gate stops saying the dry run passed; the downgrade takes it all away again."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from storage.db import make_engine
from storage.migrate import current_revision, upgrade

ENGAGEMENT = """INSERT INTO engagement (id, team_id, channel_id, customer_name, size, kickoff_on, timezone,
  pilot, ingest, status, phase_index, work_start, work_end, work_days, cadence_days, nudges_paused,
  dryrun_at, dryrun_outcome, dryrun_notes, dryrun_recorded_by, created_by, created_at, updated_at)
VALUES (:id, 'T0VENDOR', :channel, :name, 'small', '2026-11-30', 'Europe/Berlin', false, 'warehouse',
  'active', 1, '09:00', '17:00', '0,1,2,3,4', 2, false, :dryrun_at, :outcome, :notes, :recorded_by,
  'U0LEAD', '2026-11-30 08:00:00', '2026-12-01 08:00:00')"""
PHASE = """INSERT INTO engagement_phase (id, engagement_id, number, key, name, emoji, planned_start, planned_end)
VALUES (:id, :engagement, 5, 'golive', 'Go-Live', '', '2026-12-14', '2026-12-18')"""
GATE = """INSERT INTO gate (engagement_id, phase_id, key, title, description, requires_dry_run, status)
VALUES (:engagement, :phase, :key, 'Final go-live approval', :description, true, 'open')"""
POSTED = """INSERT INTO posted_message (engagement_id, channel_id, ts, kind, key, created_at, updated_at)
VALUES (:engagement, :channel, :ts, 'dryrun_scheduled', '', '2026-12-01 08:00:00', '2026-12-01 08:00:00')"""
OLD = "Production is ready and the dry run passed; you approve going live."
NEW = "Approve going live once production is ready and the go-live dry run has passed."
CUSTOM = "Our own words, kept as they are."


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_keeps_a_scheduled_dry_run_as_its_first_attempt_and_fixes_the_gate_text(
    tmp_path, request, backend
):
    from alembic import command

    from storage.migrate import alembic_config

    url = request.getfixturevalue("pg_url") if backend == "postgresql" else f"sqlite:///{tmp_path}/m.sqlite3"
    upgrade(url, "0007")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(ENGAGEMENT),
                {
                    "id": 1,
                    "channel": "C1",
                    "name": "Acme",
                    "dryrun_at": "2026-12-16 09:00:00",
                    "outcome": "issues",
                    "notes": "Tax rounding",
                    "recorded_by": "U0APPR",
                },
            )
            conn.execute(
                text(ENGAGEMENT),
                {
                    "id": 2,
                    "channel": "C2",
                    "name": "Beta",
                    "dryrun_at": None,
                    "outcome": None,
                    "notes": None,
                    "recorded_by": None,
                },
            )
            for n in (1, 2):
                conn.execute(text(PHASE), {"id": n, "engagement": n})
            conn.execute(text(GATE), {"engagement": 1, "phase": 1, "key": "final_golive", "description": OLD})
            conn.execute(
                text(GATE), {"engagement": 2, "phase": 2, "key": "final_golive", "description": CUSTOM}
            )
            conn.execute(text(POSTED), {"engagement": 1, "channel": "C1", "ts": "1764576000.000100"})
            conn.execute(text(POSTED), {"engagement": 1, "channel": "C1", "ts": "1764576000.000200"})
        upgrade(url, "0008")
        assert current_revision(url) == "0008"
        with engine.connect() as conn:
            attempts = conn.execute(
                text(
                    "SELECT engagement_id, number, outcome, notes, recorded_by, ts, scheduled_by FROM dry_run_attempt"
                )
            ).all()
            texts = dict(conn.execute(text("SELECT engagement_id, description FROM gate")).all())
        assert [tuple(a) for a in attempts] == [
            (1, 1, "issues", "Tax rounding", "U0APPR", "1764576000.000200", "U0LEAD")
        ]
        assert texts == {1: NEW, 2: CUSTOM}  # only the default playbook's words are changed
        assert "nudge_message" in inspect(engine).get_table_names()

        command.downgrade(alembic_config(url), "0007")
        inspector = inspect(engine)
        assert not {"nudge_message", "dry_run_attempt"} & set(inspector.get_table_names())
        with engine.connect() as conn:
            assert dict(conn.execute(text("SELECT engagement_id, description FROM gate")).all()) == {
                1: OLD,
                2: CUSTOM,
            }
    finally:
        engine.dispose()
