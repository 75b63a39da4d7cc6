"""The same flows on PostgreSQL, and racing starts guarded by the database."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import update
from sqlmodel import select

from sandbox.harness import CHANNEL, CONTRIBUTOR, LEAD
from storage.models import Engagement
from tests.e2e.helpers import count, engagement, ephemeral_texts, welcomes


def test_start_and_status_on_postgresql(harness_factory, pg_url):
    h = harness_factory(pg_url)
    h.command("start Acme Corp size=enterprise tz=America/New_York")
    e = engagement(h)
    assert (e.customer_name, e.size, e.country) == ("Acme Corp", "enterprise", "US")
    assert e.created_at.tzinfo is not None
    h.command("status")
    assert any("Enterprise (8–16 weeks)" in t for t in ephemeral_texts(h, LEAD.user_id))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_racing_starts_make_one_engagement(harness_factory, request, backend):
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    h = harness_factory(url)

    def start(i: int):
        return h.driver.command("/golive", f"start Customer {i}", user=LEAD.user_id, channel=CHANNEL)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(start, range(8)))
    h.idle()
    assert all(r.status == 200 for r in results)
    assert count(h, Engagement) == 1
    assert len(welcomes(h)) == 1
    losers = [t for t in ephemeral_texts(h, LEAD.user_id) if "already runs" in t]
    assert len(losers) == 7


def test_checklist_flow_on_postgresql(harness_factory, pg_url):
    from tests.e2e.test_checklist import item, tick

    h = harness_factory(pg_url)
    h.command("start Acme Corp tz=Europe/Berlin")
    tick(h, "1.5", CONTRIBUTOR)
    assert item(h, "1.5").done_by_team == CONTRIBUTOR.team_id
    for n in range(1, 7):
        h.command(f"done 1.{n}")
    assert engagement(h).phase_index == 2
    h.command("plan target=2027-02-26")
    assert engagement(h).target_on.isoformat() == "2027-02-26"


def test_a_read_session_on_postgresql_opens_no_transaction(harness_factory, pg_url):
    """Reads run in autocommit on PostgreSQL: no BEGIN before them, no ROLLBACK after (two round
    trips of a status request's four); write sessions still run in one transaction."""
    from psycopg.pq import TransactionStatus

    h = harness_factory(pg_url)
    h.command("start Acme Corp")
    db = h.services.db
    with db.read() as session:
        assert session.exec(select(Engagement.customer_name)).one() == "Acme Corp"
        status = session.connection().connection.dbapi_connection.info.transaction_status
        assert status == TransactionStatus.IDLE
    with db.rows() as conn:  # Core reads, as the status request's
        assert conn.execute(select(Engagement.customer_name)).scalar_one() == "Acme Corp"
        assert conn.connection.dbapi_connection.info.transaction_status == TransactionStatus.IDLE
    with db.session() as session:
        session.exec(select(Engagement.customer_name)).one()
        status = session.connection().connection.dbapi_connection.info.transaction_status
        assert status == TransactionStatus.INTRANS


def test_core_reads_on_sqlite_send_only_their_statement(harness):
    """`Database.rows` on SQLite: no BEGIN before the statement (nor a ROLLBACK after), as on
    PostgreSQL; the ORM read sessions still begin, and a write session takes the write lock."""
    from sqlalchemy import event

    h = harness
    h.command("start Acme Corp")
    db = h.services.db
    sent: list[str] = []

    def record(_conn, _cursor, statement, *_rest):  # type: ignore[no-untyped-def]
        sent.append(statement.split()[0].upper())

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        with db.rows() as conn:
            assert conn.execute(select(Engagement.customer_name)).scalar_one() == "Acme Corp"
            assert conn.connection.dbapi_connection.in_transaction is False
        assert sent == ["SELECT"]
        sent.clear()
        with db.read() as session:
            session.exec(select(Engagement.customer_name)).one()
        with db.session() as session:
            session.exec(select(Engagement.customer_name)).one()
        assert sent == ["BEGIN", "SELECT", "BEGIN", "SELECT"]
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def test_a_write_in_a_read_session_is_caught(harness):
    """The guard every harness checks at teardown: a read session must not write (on PostgreSQL
    it would be committed at once)."""
    from tests.conftest import WRITES_IN_READ_SESSIONS, _check_no_write_in_a_read_session

    with harness.services.db.read() as session:
        session.connection().execute(update(Engagement).values(customer_name="x"))
    assert WRITES_IN_READ_SESSIONS and WRITES_IN_READ_SESSIONS[-1].startswith("UPDATE engagement")
    with pytest.raises(AssertionError, match="a read session wrote: UPDATE engagement"):
        _check_no_write_in_a_read_session()
    assert not WRITES_IN_READ_SESSIONS
    with harness.services.db.rows() as conn:  # the Core reads' connection is held to it too
        conn.execute(update(Engagement).values(customer_name="y"))
    with pytest.raises(AssertionError, match="a read session wrote: UPDATE engagement"):
        _check_no_write_in_a_read_session()
