"""The inbox: an acked request with work after its ack is in the database before its 200, and a
request whose process died before its work was done is replayed, once in effect, by any bot
process on the same database (`storage.inbox`, `golive.inbox`). Both databases."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from sqlmodel import select

from golive.inbox import InboxWorker
from sandbox.harness import CHANNEL, CONTRIBUTOR, LEAD
from standin.driver import FORM
from storage import inbox
from storage.models import AuditEvent, EngagementPhase, InboxRequest, Item
from tests.e2e.helpers import checklists, engagement, last_answer, mention


@pytest.fixture(params=["sqlite", "postgresql"])
def on(request, harness_factory):
    """A small engagement with a contributor, on SQLite and on PostgreSQL."""
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    h = harness_factory(url)
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    return h


def _customer_items(h, count: int) -> list[tuple[str, Item]]:
    """The first `count` of the customer's items of phase 1 (the checklist's checkboxes), with
    their references."""
    e = engagement(h)
    with h.services.db.read() as session:
        phase = session.exec(
            select(EngagementPhase).where(EngagementPhase.engagement_id == e.id, EngagementPhase.number == 1)
        ).one()
        items = session.exec(
            select(Item).where(Item.phase_id == phase.id, Item.owner_side == "customer").order_by(Item.number)
        ).all()
    return [(f"1.{it.number}", it) for it in items[:count]]


def _tick_body(h, item: Item, checked: bool = True) -> str:
    """A click on the item's checkbox, as Slack sends it (each with its own trigger)."""
    msg = checklists(h)[0]
    payload = h.driver.click_payload(
        CHANNEL,
        msg["ts"],
        f"tick:{item.id}",
        user=CONTRIBUTOR.user_id,
        selected_options=[str(item.id)] if checked else [],
    )
    return urlencode({"payload": json.dumps(payload)})


def _audits(h, kind: str, ref: str) -> int:
    with h.services.db.read() as session:
        return len(
            session.exec(select(AuditEvent).where(AuditEvent.kind == kind, AuditEvent.subject == ref)).all()
        )


def _status(h, item: Item) -> str:
    with h.services.db.read() as session:
        return session.get(Item, item.id).status  # type: ignore[union-attr]


def _rows(h) -> list[InboxRequest]:
    with h.services.db.inbox.read() as session:
        return list(session.exec(select(InboxRequest).order_by(InboxRequest.id)).all())


def _left_by_a_dead_process(h, body: str, content_type: str, kind: str, key: str) -> int:
    """A row as a process leaves it when it is killed after the 200 and before the work: leased,
    the lease long run out."""
    row = inbox.record(
        h.services.db,
        key=key,
        kind=kind,
        body=body,
        headers={"content-type": [content_type]},
        now=datetime.now(UTC) - timedelta(minutes=5),
        lease=timedelta(seconds=30),
    )
    assert row is not None
    return row


def test_a_tick_is_in_the_inbox_before_its_answer_and_done_after_its_work(on):
    h = on
    [(ref, it)] = _customer_items(h, 1)
    before = len(_rows(h))
    r = h.driver.send(_tick_body(h, it), FORM)
    assert r.status == 200
    h.idle()
    rows = _rows(h)[before:]
    assert [(row.kind, row.outcome, row.attempts) for row in rows] == [("block_actions", "done", 1)]
    assert rows[0].done_at is not None and json.loads(rows[0].body)["type"] == "block_actions"
    assert _status(h, it) == "done" and _audits(h, "item.done", ref) == 1


def test_a_delivery_slack_sends_again_is_acked_and_not_done_twice(on):
    h = on
    [(ref, it)] = _customer_items(h, 1)
    body, untick = _tick_body(h, it), _tick_body(h, it, checked=False)
    assert h.driver.send(body, FORM).status == 200
    h.idle()
    assert h.driver.send(untick, FORM).status == 200
    h.idle()
    assert _status(h, it) == "open"
    # The first delivery again (same trigger and action): acked, and not ticked a second time.
    assert h.driver.send(body, FORM).status == 200
    h.idle()
    assert _status(h, it) == "open"
    assert _audits(h, "item.done", ref) == 1


def test_a_tick_acked_by_a_process_that_died_is_replayed_once_in_effect(on):
    h = on
    [(ref, it), (other_ref, other)] = _customer_items(h, 2)
    updates_before = len(h.standin.calls_to("chat.update"))
    again = _tick_body(h, it)
    row = _left_by_a_dead_process(h, _tick_body(h, it), FORM, "block_actions", "block_actions:dead-1")
    fresh = inbox.record(  # acked just now by a process that is alive: its lease holds
        h.services.db,
        key="block_actions:alive-1",
        kind="block_actions",
        body=_tick_body(h, other),
        headers={"content-type": [FORM]},
        now=datetime.now(UTC),
    )
    worker = InboxWorker(h.bot.app, h.services)
    assert worker.replay_due() == 1
    h.idle()
    assert _status(h, it) == "done" and _audits(h, "item.done", ref) == 1
    assert _status(h, other) == "open" and _audits(h, "item.done", other_ref) == 0
    assert len(h.standin.calls_to("chat.update")) > updates_before  # the checklist shows it
    done = {r.id: r for r in _rows(h)}
    assert (done[row].outcome, done[row].attempts) == ("done", 2)
    assert done[fresh].done_at is None  # not taken: its lease has not run out
    assert worker.replay_due() == 0
    # The work was done but the row not marked (killed in between): replayed again, the same state,
    # no second audit row.
    _left_by_a_dead_process(h, again, FORM, "block_actions", "block_actions:dead-2")
    assert worker.replay_due() == 1
    h.idle()
    assert _status(h, it) == "done" and _audits(h, "item.done", ref) == 1


def test_a_replayed_command_answers_through_its_response_url(on):
    h = on
    [(ref, _it)] = _customer_items(h, 1)
    fields = h.driver.command_fields(
        h.services.command, f"due {ref} 2027-01-12", user=LEAD.user_id, channel=CHANNEL
    )
    _left_by_a_dead_process(h, json.dumps(fields), "application/json", "command", "command:dead-1")
    assert InboxWorker(h.bot.app, h.services).replay_due() == 1
    h.idle()
    assert "Tue 12 Jan 2027" in last_answer(h, LEAD)
    assert _audits(h, "item.due", ref) == 1


def test_a_row_that_keeps_killing_its_process_is_given_up(on):
    h = on
    [(_ref, it)] = _customer_items(h, 1)
    row = _left_by_a_dead_process(h, _tick_body(h, it), FORM, "block_actions", "block_actions:poison")
    with h.services.db.inbox.session() as session:
        session.get(InboxRequest, row).attempts = inbox.MAX_ATTEMPTS  # type: ignore[union-attr]
    assert InboxWorker(h.bot.app, h.services).replay_due() == 0
    [given_up] = [r for r in _rows(h) if r.id == row]
    assert given_up.outcome == "abandoned" and _status(h, it) == "open"


def test_metrics_show_the_inbox_depth_and_the_age_of_its_oldest_row(on):
    h = on
    [(_ref, it)] = _customer_items(h, 1)

    def scrape() -> dict[str, float]:
        with urllib.request.urlopen(h.server.url + "/metrics", timeout=10) as resp:
            text = resp.read().decode()
        return {
            line.split()[0]: float(line.split()[1])
            for line in text.splitlines()
            if line.startswith(("golive_inbox_depth ", "golive_inbox_oldest_seconds "))
        }

    assert scrape() == {"golive_inbox_depth": 0.0, "golive_inbox_oldest_seconds": 0.0}
    _left_by_a_dead_process(h, _tick_body(h, it), FORM, "block_actions", "block_actions:dead-m")
    seen = scrape()
    assert seen["golive_inbox_depth"] == 1.0 and 290 < seen["golive_inbox_oldest_seconds"] < 900
    with urllib.request.urlopen(h.server.url + "/healthz", timeout=10) as resp:
        assert resp.status == 200  # draining is no reason to take the bot out of service


def test_processes_taking_at_once_share_the_rows_out(on):
    """Several processes (replicas on PostgreSQL) take from one inbox at the same time: each row
    goes to one of them (SKIP LOCKED; SQLite's writer lock)."""
    import threading

    h = on
    for n in range(12):
        _left_by_a_dead_process(h, f"payload={n}", FORM, "block_actions", f"block_actions:shared-{n}")
    taken: list[list[int]] = []
    start = threading.Barrier(4)

    def take() -> None:
        start.wait()
        got: list[int] = []
        while rows := inbox.take(h.services.db, datetime.now(UTC), limit=2):
            got += [r.id for r in rows]
        taken.append(got)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    ids = [i for got in taken for i in got]
    assert len(ids) == 12 and len(set(ids)) == 12, taken
