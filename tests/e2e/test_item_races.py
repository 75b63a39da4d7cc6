"""Item commands read first and write after (`_apply`): the write reads the items again with
their rows locked and decides on them as they are, so a change landing in between is neither
overwritten nor misreported, and concurrent changes to one item each land once."""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import select

import handlers.item_commands as hcl
from bot.engagement import checklist as cl
from bot.people import audit
from bot.people.sides import Actor
from sandbox.harness import CHANNEL, LEAD
from storage.models import AuditEvent, Item
from tests.e2e.helpers import engagement, ephemeral_texts


def _item(h, ref: str) -> Item:
    phase_no, item_no = (int(x) for x in ref.split("."))
    with h.services.db.read() as session:
        return cl.find_item(session, engagement(h), phase_no, item_no)[1]


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
        with h.services.db.session() as session:
            session.connection().execute(
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


def _audited(h, kind: str, ref: str) -> list[AuditEvent]:
    with h.services.db.read() as session:
        return list(
            session.exec(select(AuditEvent).where(AuditEvent.kind == kind, AuditEvent.subject == ref)).all()
        )


def test_a_change_in_between_that_leaves_updated_at_alone_is_seen(started, monkeypatch):
    """The write decides on the item's row as it is under its lock, not on a version stamp: a
    writer that changes columns without touching `updated_at` (as the sweep counts nudges) is
    seen. Here it set the very date the command asks for: nothing is written, nothing audited."""
    h = started
    it = _item(h, "1.3")

    def someone_else_sets_that_date() -> None:
        with h.services.db.session() as session:
            session.connection().execute(
                update(Item.__table__)  # type: ignore[attr-defined]
                .where(Item.__table__.c.id == it.id)  # type: ignore[attr-defined]
                .values(due_on=date(2026, 12, 22), due_set_by_hand=True, nudge_count=3)
            )

    ran = _between_read_and_write(monkeypatch, someone_else_sets_that_date)
    h.command("due 1.3 2026-12-22")
    assert ran
    got = _item(h, "1.3")
    assert got.due_on == date(2026, 12, 22) and got.nudge_count == 3 and got.updated_at == it.updated_at
    assert "1.3 already is that way" in ephemeral_texts(h, LEAD.user_id)[-1]
    assert _audited(h, "item.due", "1.3") == []


def test_the_write_waits_for_a_writer_holding_the_item_and_decides_on_what_it_committed(started, monkeypatch):
    """Another writer holds the item (SQLite's writer lock; its row lock on PostgreSQL) from
    after the command's reads until a moment later, and sets the date the command asks for. The
    command's write waits for it and decides on the row it committed: already that way, so one
    audit row, the other writer's. (Decided on the row as read before, it would set and audit the
    date again; on PostgreSQL a plain read, not FOR UPDATE, would still see the old date.)"""
    h = started
    it = _item(h, "1.2")
    holding, release = threading.Event(), threading.Event()

    def other_writer() -> None:
        with h.services.db.session() as session:
            phase, item = cl.lock_items(session, [it.id])[it.id]
            actor = Actor(user_id=LEAD.user_id, team_id="T0VENDOR", name="Lead", side="vendor")
            change = cl.set_due(session, phase, item, actor, date(2027, 1, 15), h.services.clock.now())
            audit.record_change(session, it.engagement_id, actor, change, now=h.services.clock.now())
            holding.set()
            release.wait(10)

    writer = threading.Thread(target=other_writer)

    def start_it_and_let_go_once_the_command_waits() -> None:
        writer.start()
        assert holding.wait(10)
        threading.Timer(0.5, release.set).start()  # the command reaches its write meanwhile

    ran = _between_read_and_write(monkeypatch, start_it_and_let_go_once_the_command_waits)
    h.command("due 1.2 2027-01-15")  # read with its planned date, before the other writer
    writer.join(10)
    assert ran and not writer.is_alive()
    assert _item(h, "1.2").due_on == date(2027, 1, 15)
    assert "1.2 already is that way" in ephemeral_texts(h, LEAD.user_id)[-1]
    assert len(_audited(h, "item.due", "1.2")) == 1


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
    with h.services.db.read() as session:
        rows = session.exec(
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
        with h.services.db.read() as session:  # nothing written past the lock
            assert session.get(Item, it.id).due_on == before
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
