"""PostgreSQL connections in the pool: checked before use only after being idle, and a pool whose
connections the server dropped (a restart, an idle timeout) recovers without the user noticing."""

from __future__ import annotations

import pytest
from sqlalchemy import text

import storage.db
from sandbox.harness import LEAD
from storage.db import Database
from tests.e2e.helpers import ephemeral_texts


def _count_pings(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pings: list[int] = []
    real = db.engine.dialect.do_ping

    def counted(dbapi_conn):  # type: ignore[no-untyped-def]
        pings.append(1)
        return real(dbapi_conn)

    monkeypatch.setattr(db.engine.dialect, "do_ping", counted)
    return pings


def test_a_connection_in_use_a_moment_ago_is_not_pinged_an_idle_one_is(pg_url, monkeypatch):
    db = Database(pg_url)
    pings = _count_pings(db, monkeypatch)
    try:
        for _ in range(5):
            with db.read() as session:
                assert session.exec(text("SELECT 1")).one()[0] == 1
        assert pings == []  # one connection, checked in and out within the idle limit
        monkeypatch.setattr(storage.db, "IDLE_PING_SECONDS", 0.0)
        with db.read() as session:
            session.exec(text("SELECT 1")).one()
        assert pings == [1]  # idle "long enough": checked before use
    finally:
        db.dispose()


def test_connections_the_server_dropped_are_replaced_before_a_command_uses_them(
    harness_factory, pg_url, monkeypatch
):
    h = harness_factory(pg_url)
    h.command("start Acme Corp")
    admin = Database(pg_url)
    try:
        with admin.session() as session:
            # What a server restart does to the bot's pooled connections.
            dropped = session.exec(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).one()[0]
        assert dropped >= 1
        monkeypatch.setattr(storage.db, "IDLE_PING_SECONDS", 0.0)  # as if idle for a while
        r = h.command("status")
        assert r.status == 200
        [answer] = ephemeral_texts(h, LEAD.user_id)
        assert "Acme Corp" in answer and "reference:" not in answer  # the status, not the apology
    finally:
        admin.dispose()
