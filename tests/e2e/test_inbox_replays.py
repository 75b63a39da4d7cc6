"""Replays of listeners whose work follows their ack (issue 24, "an acked click is a recorded
click"): a sign-off decision, a snooze, an item added from the form and an event, each acked by a
process that died before its work was done, are done by the replay; a second replay of the same
request (the work done, the row not marked: the process was killed in between) leaves the same
state, with no second audit row and no second post. Both databases. The mechanism itself is
tested in test_inbox.py."""

from __future__ import annotations

import json
import time
from datetime import date
from urllib.parse import urlencode

import pytest
from sqlmodel import select

from golive.inbox import InboxWorker
from sandbox.harness import APPROVER, CHANNEL, CONTRIBUTOR, LEAD
from standin.driver import FORM
from standin.payloads import event_envelope
from storage.models import (
    AuditEvent,
    EngagementPhase,
    Gate,
    Item,
    Member,
    PostedMessage,
    ProcessedEvent,
    SignoffDecision,
    SignoffRequest,
)
from tests.e2e.helpers import at, checklists, engagement, mention, nudges, request_signoff
from tests.e2e.test_inbox import _left_by_a_dead_process, _rows


@pytest.fixture(params=["sqlite", "postgresql"])
def on(request, harness_factory):
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    return harness_factory(url)


def _form(payload: dict) -> str:
    return urlencode({"payload": json.dumps(payload)})


def _replay(h, body: str, content_type: str, kind: str, key: str) -> int:
    """Leave `body` as a process killed after its 200 leaves it, replay it, and wait for its work;
    the row, which must be done."""
    row = _left_by_a_dead_process(h, body, content_type, kind, key)
    assert InboxWorker(h.bot.app, h.services).replay_due() == 1
    h.idle()
    [done] = [r for r in _rows(h) if r.id == row]
    assert done.outcome == "done" and done.attempts == 2
    return row


def _audits(h, kind: str, subject: str | None = None) -> int:
    with h.services.db.read() as session:
        q = select(AuditEvent).where(AuditEvent.kind == kind)
        if subject is not None:
            q = q.where(AuditEvent.subject == subject)
        return len(session.exec(q).all())


def _ledger(h, kind: str) -> int:
    with h.services.db.read() as session:
        return len(session.exec(select(PostedMessage).where(PostedMessage.kind == kind)).all())


def _item(h, ref: str) -> Item:
    phase_no, item_no = (int(p) for p in ref.split("."))
    with h.services.db.read() as session:
        return session.exec(
            select(Item)
            .join(EngagementPhase, EngagementPhase.id == Item.phase_id)
            .where(EngagementPhase.number == phase_no, Item.number == item_no)
        ).one()


def test_an_approval_submitted_to_a_process_that_died_is_recorded_once(on):
    h = on
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(APPROVER)} approver")
    for phase, items in ((1, 6), (2, 9)):
        for n in range(1, items + 1):
            h.command(f"done {phase}.{n}")
    request_signoff(h, "solution_design")
    with h.services.db.read() as session:
        gate = session.exec(select(Gate).where(Gate.key == "solution_design")).one()
        request = session.exec(select(SignoffRequest).where(SignoffRequest.gate_id == gate.id)).one()
    h.driver.click(CHANNEL, request.ts, f"signoff_approve:{request.id}", user=APPROVER.user_id)
    h.idle()
    [form] = [
        v for v in h.standin.open_views(APPROVER.user_id) if v["view"]["callback_id"] == "signoff_approve"
    ]
    body = _form(h.driver.submit_payload(form["id"], {}, user=APPROVER.user_id))

    def state() -> tuple:
        with h.services.db.read() as session:
            decided = session.exec(select(SignoffDecision)).all()
            status = session.get(SignoffRequest, request.id).status  # type: ignore[union-attr]
        return (
            status,
            [(d.decision, d.user_id) for d in decided],
            _audits(h, "signoff.approved", "solution_design"),
            _ledger(h, "decision"),
        )

    assert state() == ("open", [], 0, 0)
    _replay(h, body, FORM, "view_submission", "view_submission:dead-approve-1")
    assert state() == ("approved", [("approved", APPROVER.user_id)], 1, 1)
    thread = len(h.standin.replies(CHANNEL, request.ts))
    # Done, the row not marked done: the replay finds the request decided and writes nothing.
    _replay(h, body, FORM, "view_submission", "view_submission:dead-approve-2")
    assert state() == ("approved", [("approved", APPROVER.user_id)], 1, 1)
    assert len(h.standin.replies(CHANNEL, request.ts)) == thread, "announced once"


def test_a_snooze_chosen_on_a_nudge_of_a_process_that_died_is_recorded_once(on):
    h = on
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    at(h, "2026-12-02T10:00:00+01:00")  # Wednesday: Discovery ended yesterday
    h.run_sweep()
    [nudge] = nudges(h)
    five = _item(h, "1.5")
    payload = h.driver.click_payload(
        CHANNEL,
        nudge["ts"],
        f"nudge_snooze:{five.id}",
        user=CONTRIBUTOR.user_id,
        selected_option=f"3:{five.id}",
    )
    body = _form(payload)
    _replay(h, body, FORM, "block_actions", "block_actions:dead-snooze-1")
    assert _item(h, "1.5").snoozed_until == date(2026, 12, 7)  # three business days on
    assert _audits(h, "item.snoozed", "1.5") == 1
    _replay(h, body, FORM, "block_actions", "block_actions:dead-snooze-2")
    assert _item(h, "1.5").snoozed_until == date(2026, 12, 7)
    assert _audits(h, "item.snoozed", "1.5") == 1


def test_an_item_added_in_the_form_of_a_process_that_died_is_added_once(on):
    h = on
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    msg = checklists(h)[0]
    h.driver.click(CHANNEL, msg["ts"], "add_item", user=LEAD.user_id)
    h.idle()
    [form] = [v for v in h.standin.open_views(LEAD.user_id) if v["view"]["callback_id"] == "item_add"]
    body = _form(
        h.driver.submit_payload(
            form["id"],
            {"title": {"value": "Send the   SSO metadata"}, "owner": {"value": "customer"}},
            user=LEAD.user_id,
        )
    )

    def added() -> list[str]:
        with h.services.db.read() as session:
            return [i.title for i in session.exec(select(Item).where(Item.custom)).all()]

    _replay(h, body, FORM, "view_submission", "view_submission:dead-add-1")
    assert added() == ["Send the SSO metadata"]
    assert _audits(h, "item.added") == 1
    # Adding is not idempotent by itself: the replay sees the item it added and adds none.
    _replay(h, body, FORM, "view_submission", "view_submission:dead-add-2")
    assert added() == ["Send the SSO metadata"]
    assert _audits(h, "item.added") == 1
    # Someone adding it again on purpose (not a replay) still can.
    h.driver.click(CHANNEL, checklists(h)[-1]["ts"], "add_item", user=LEAD.user_id)
    h.idle()
    [again] = [v for v in h.standin.open_views(LEAD.user_id) if v["view"]["callback_id"] == "item_add"]
    h.driver.submit_view(again["id"], {"title": {"value": "Send the SSO metadata"}}, user=LEAD.user_id)
    h.idle()
    assert added() == ["Send the SSO metadata", "Send the SSO metadata"]
    last = _rows(h)[-1]  # in the inbox before its answer, done after its work
    assert (last.kind, last.outcome, last.attempts) == ("view_submission", "done", 1)


def test_an_event_acked_by_a_process_that_died_passes_the_dedupe_when_replayed(on):
    h = on
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    event_id = "EvDEADJOIN1"
    with h.driver.ws.lock:
        h.driver.ws.channels[CHANNEL].members.append(APPROVER.user_id)
        envelope = event_envelope(
            h.driver.ws,
            {
                "type": "member_joined_channel",
                "user": APPROVER.user_id,
                "channel": CHANNEL,
                "channel_type": "C",
                "team": APPROVER.team_id,
                "event_ts": f"{time.time():.6f}",
            },
            event_id,
            int(time.time()),
        )
    # The dead process's dedupe saw the event before its listener recorded it.
    with h.services.db.session() as session:
        session.add(ProcessedEvent(event_id=event_id, received_at=h.services.clock.now()))

    def member() -> list[str | None]:
        e = engagement(h)
        with h.services.db.read() as session:
            return [
                m.team_id
                for m in session.exec(
                    select(Member).where(Member.engagement_id == e.id, Member.user_id == APPROVER.user_id)
                ).all()
            ]

    assert member() == []
    _replay(h, json.dumps(envelope), "application/json", "event_callback", f"event:{event_id}")
    assert member() == [APPROVER.team_id]
    # Slack delivering it again (not a replay) is still dropped by the dedupe: acked, nothing done.
    assert h.driver.event(envelope["event"], event_id=event_id).status == 200
    h.idle()
    assert member() == [APPROVER.team_id]
