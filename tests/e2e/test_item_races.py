"""Item commands decide on what they read before their write transaction (`_apply`); a change
landing in between must not be overwritten or misreported."""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import select

import handlers.item_commands as hcl
from bot.engagement import checklist as cl
from bot.engagement import item_writes
from harness import CHANNEL, LEAD
from storage.models import AuditEvent, Item
from tests.e2e.helpers import engagement, ephemeral_texts


def _item(h, ref: str) -> Item:
    phase_no, item_no = (int(x) for x in ref.split("."))
    with h.services.db.read() as s:
        return cl.find_item(s, engagement(h), phase_no, item_no)[1]


def _between_read_and_write(monkeypatch, change) -> list[int]:
    """Run `change()` once, after the next item command has read its items and before it writes
    (the read phase ends by resolving the actor): another writer landing in that gap."""
    ran: list[int] = []
    real = hcl.actor_for

    def actor_then_change(*args, **kwargs):
        actor = real(*args, **kwargs)
        if not ran:
            change()
            ran.append(1)
        return actor

    monkeypatch.setattr(hcl, "actor_for", actor_then_change)
    return ran


@pytest.fixture(params=["sqlite", "postgresql"])
def started(request, harness_factory):
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    h = harness_factory(url)
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    return h


def test_a_due_date_changed_between_the_read_and_the_write_is_decided_again(started, monkeypatch):
    h = started
    h.command("due 1.2 2026-12-18")
    it = _item(h, "1.2")
    assert it.due_on == date(2026, 12, 18)

    def someone_else_sets_another_date() -> None:
        with h.services.db.session() as s:
            s.connection().execute(
                update(Item.__table__)  # type: ignore[attr-defined]
                .where(Item.__table__.c.id == it.id)  # type: ignore[attr-defined]
                .values(due_on=date(2026, 12, 21), updated_at=it.updated_at + timedelta(seconds=1))
            )

    ran = _between_read_and_write(monkeypatch, someone_else_sets_another_date)
    # Read as 18 Dec (already that way); by the write it is 21 Dec: decided on that, it is set.
    h.command("due 1.2 2026-12-18")
    assert ran
    assert _item(h, "1.2").due_on == date(2026, 12, 18)
    reply = ephemeral_texts(h, LEAD.user_id)[-1]
    assert "already is that way" not in reply and "1.2" in reply


def test_a_change_in_between_to_a_column_the_command_sets_is_not_overwritten_unseen(started, monkeypatch):
    """A writer that changes a column without touching `updated_at` (the sweep's nudge count):
    the command's conditional update sees it and decides again instead of writing over it."""
    h = started
    it = _item(h, "1.3")

    def a_nudge_counts() -> None:
        with h.services.db.session() as s:
            s.connection().execute(
                update(Item.__table__)  # type: ignore[attr-defined]
                .where(Item.__table__.c.id == it.id)  # type: ignore[attr-defined]
                .values(nudge_count=3)
            )

    writes: list[bool] = []
    real_write = item_writes.write_item

    def recording_write(session, item, *, read_at=None):
        ok = real_write(session, item, read_at=read_at)
        writes.append(ok)
        return ok

    monkeypatch.setattr(item_writes, "write_item", recording_write)
    _between_read_and_write(monkeypatch, a_nudge_counts)
    h.command("due 1.3 2026-12-22")
    got = _item(h, "1.3")
    assert got.due_on == date(2026, 12, 22) and got.due_set_by_hand and got.nudge_count == 0
    # The first, conditional write found the row changed and wrote nothing; the second decided
    # on the row as it is now.
    assert writes == [False, True]


def test_write_item_writes_nothing_over_a_row_changed_since_it_was_read(started):
    h = started
    it = _item(h, "1.4")
    with h.services.db.session() as s:
        s.connection().execute(
            update(Item.__table__)  # type: ignore[attr-defined]
            .where(Item.__table__.c.id == it.id)  # type: ignore[attr-defined]
            .values(title="Renamed meanwhile", updated_at=it.updated_at + timedelta(seconds=1))
        )
    with h.services.db.session() as s:
        copy = s.merge(it, load=False)
        copy.title = "Stale rename"
        assert item_writes.write_item(s, copy, read_at=it.updated_at) is False
    assert _item(h, "1.4").title == "Renamed meanwhile"
    with h.services.db.session() as s:
        fresh = cl.item_by_id(s, engagement(h), it.id)[1]
        fresh.title = "Renamed on the current row"
        assert item_writes.write_item(s, fresh, read_at=fresh.updated_at) is True
    assert _item(h, "1.4").title == "Renamed on the current row"


def test_a_burst_of_commands_on_one_item_all_land_and_none_fails(started):
    """Eight people setting the same item's due date at once (the benchmark's burst): each
    command is answered with its change, none with an apology, and the audit trail has every
    change. On PostgreSQL, without SQLite's writer lock, the item's row lock orders them."""
    h = started
    dates = [date(2027, 1, 10) + timedelta(days=n) for n in range(24)]
    answers: list[int] = []
    lock = threading.Lock()

    def burst(offset: int) -> None:
        for d in dates[offset::8]:
            r = h.driver.command(
                h.services.command, f"due 1.2 {d.isoformat()}", user=LEAD.user_id, channel=CHANNEL
            )
            with lock:
                answers.append(r.status)

    threads = [threading.Thread(target=burst, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    h.idle()
    assert answers == [200] * len(dates)
    texts = ephemeral_texts(h, LEAD.user_id)
    assert not [t for t in texts if "went wrong" in t]
    assert sum("1.2" in t and "due" in t.lower() for t in texts) == len(dates)
    with h.services.db.read() as s:
        rows = s.exec(
            select(AuditEvent).where(AuditEvent.kind == "item.due", AuditEvent.subject == "1.2")
        ).all()
    assert len(rows) == len(dates)
    # The item holds the date of the change audited last.
    last = max(rows, key=lambda r: r.id)
    assert _item(h, "1.2").due_on.isoformat() == json.loads(last.detail)["due"]


def _hold_the_items_write_lock(h, item_id: int):
    """Another writer in the middle of its transaction on the item: SQLite's writer lock (every
    write session takes it), or the item's row lock on PostgreSQL. Returns the open session."""
    cm = h.services.db.session()
    session = cm.__enter__()
    session.connection().execute(
        select(Item.__table__.c.id).where(Item.__table__.c.id == item_id).with_for_update()  # type: ignore[attr-defined]
    )
    return cm


def test_an_item_command_acks_while_another_writer_holds_the_item(started):
    """A command is acked once its text parses: with the item locked by another writer, `due` is
    still acked (with the write before its ack it waited for the lock, past Slack's 3 seconds),
    and its confirmation follows through the response_url once the write lands. A reference that
    does not exist is answered through the response_url too, without waiting for the lock; a
    command that does not parse is answered in its ack."""
    h = started
    it = _item(h, "1.2")
    before = it.due_on
    held = _hold_the_items_write_lock(h, it.id)
    try:
        r = h.driver.command(h.services.command, "due 1.2 2027-01-22", user=LEAD.user_id, channel=CHANNEL)
        assert r.status == 200 and not r.body.strip()  # acked, with nothing to say yet
        wrong = h.driver.command(
            h.services.command, "due 1.99 2027-01-22", user=LEAD.user_id, channel=CHANNEL
        )
        assert wrong.status == 200 and not wrong.body.strip()
        refused = h.standin.wait_for(
            lambda: [e for e in h.standin.ephemerals(user=LEAD.user_id) if "1.99" in e["text"]],
            timeout=10,
            message="the wrong reference is answered while the item is locked",
        )
        assert refused[0]["source"] == "response_url"
        unparsed = h.driver.command(h.services.command, "due 1.2 someday", user=LEAD.user_id, channel=CHANNEL)
        assert "YYYY-MM-DD" in (unparsed.json or {}).get("text", "")
        with h.services.db.read() as s:  # nothing written past the lock
            assert s.get(Item, it.id).due_on == before
    finally:
        held.__exit__(None, None, None)
    h.idle()
    assert _item(h, "1.2").due_on == date(2027, 1, 22)
    confirmations = [
        e
        for e in h.standin.ephemerals(user=LEAD.user_id)
        if e["source"] == "response_url" and "1.2" in e["text"]
    ]
    assert len(confirmations) == 1 and "22 Jan" in confirmations[0]["text"]
