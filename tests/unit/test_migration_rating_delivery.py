"""Migration 0021 on a database with ratings: the asks and low ratings so far count as delivered
(the sweep does not send them again after the upgrade); the downgrade takes the columns away."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import inspect, text

from storage.db import make_engine
from storage.migrate import current_revision, upgrade
from tests.unit.test_migration_next_check import INSERT

RATING = """INSERT INTO rating (engagement_id, milestone, title, user_id, asked_at, score, rated_at)
VALUES (1, :milestone, 'A gate', 'U0APPR', :asked, :score, :rated)"""


def _at(value: object) -> datetime:
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(at, datetime)
    return at.replace(tzinfo=None)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_takes_old_asks_and_alerts_as_delivered_and_downgrade_undoes_it(tmp_path, request, backend):
    from alembic import command

    from storage.migrate import alembic_config

    url = request.getfixturevalue("pg_url") if backend == "postgresql" else f"sqlite:///{tmp_path}/m.sqlite3"
    upgrade(url, "0020")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(INSERT),
                {"channel": "C0", "name": "Acme", "status": "active", "at": "2026-11-30 08:00:00"},
            )
            for milestone, score, rated in (
                ("open", None, None),
                ("low", 2, "2026-12-02 10:00:00"),
                ("high", 5, "2026-12-03 11:00:00"),
            ):
                conn.execute(
                    text(RATING),
                    {"milestone": milestone, "asked": "2026-12-01 09:00:00", "score": score, "rated": rated},
                )
        upgrade(url, "0021")
        assert current_revision(url) == "0021"
        with engine.connect() as conn:
            rows = {
                m: (sent, told, retry)
                for m, sent, told, retry in conn.execute(
                    text("SELECT milestone, ask_sent_at, lead_told_at, retry_at FROM rating")
                )
            }
        assert {m: _at(sent) for m, (sent, _, _) in rows.items()} == dict.fromkeys(
            ("open", "low", "high"), datetime(2026, 12, 1, 9)
        )
        assert {m: told and _at(told) for m, (_, told, _) in rows.items()} == {
            "open": None,
            "low": datetime(2026, 12, 2, 10),
            "high": None,
        }
        assert all(retry is None for _, _, retry in rows.values())
        indexes = {i["name"] for i in inspect(engine).get_indexes("rating")}
        assert {"ix_rating_ask_unsent", "ix_rating_lead_untold"} <= indexes

        command.downgrade(alembic_config(url), "0020")
        assert current_revision(url) == "0020"
        columns = {c["name"] for c in inspect(engine).get_columns("rating")}
        assert not {"ask_sent_at", "lead_told_at", "retry_at"} & columns
    finally:
        engine.dispose()
