"""Issue 4: sign-offs with approval buttons, who may approve, phase gates and the audit trail."""

from __future__ import annotations

import csv
import io
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.exc import DBAPIError
from sqlmodel import select, text

from sandbox.harness import APPROVER, CHANNEL, CONSULTANT, CONTRIBUTOR, CUSTOMER_TEAM, LEAD, OUTSIDER, SPONSOR
from storage.models import AuditEvent, Gate, SignoffDecision, SignoffRequest
from tests.e2e.helpers import (
    approve_request,
    blocks_text,
    button_payload,
    count,
    engagement,
    ephemeral_texts,
    notified_by,
    posts,
    request_signoff,
    send_payload,
)
from tests.e2e.test_checklist import checklist_msg


def mention(p) -> str:
    return f"<@{p.user_id}|{p.name.split()[0].lower()}>"


def finish_phase(h, number: int, items: int) -> None:
    for n in range(1, items + 1):
        h.command(f"done {number}.{n}")


def requests(h, gate_key: str) -> list[SignoffRequest]:
    with h.services.db.session() as session:
        gate = session.exec(select(Gate).where(Gate.key == gate_key)).one()
        return list(
            session.exec(
                select(SignoffRequest)
                .where(SignoffRequest.gate_id == gate.id)
                .order_by(SignoffRequest.version)
            ).all()
        )


def request_msg(h, gate_key: str, version: int | None = None) -> dict:
    req = requests(h, gate_key)[-1 if version is None else version - 1]
    return h.standin.message(CHANNEL, req.ts)


def decisions(h) -> list[SignoffDecision]:
    with h.services.db.session() as session:
        return list(session.exec(select(SignoffDecision)).all())


def audit_kinds(h) -> list[str]:
    with h.services.db.session() as session:
        return [e.kind for e in session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()]


def approve(h, gate_key: str, user) -> None:
    msg = request_msg(h, gate_key)
    req = requests(h, gate_key)[-1]
    approve_request(h, msg["ts"], req.id, user)


@pytest.fixture
def engaged(harness):
    h = harness
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(APPROVER)} approver")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    h.command(f"role {mention(SPONSOR)} sponsor")
    finish_phase(h, 1, 6)
    assert engagement(h).phase_index == 2
    return h


def test_roles_are_listed_and_checked(engaged):
    h = engaged
    h.command("team")
    listing = ephemeral_texts(h, LEAD.user_id)[-1]
    assert "Ada Approver · approver" in listing or f"<@{APPROVER.user_id}> · approver" in listing
    # A vendor-side user cannot be an approver: the vendor never approves for the customer.
    h.command(f"role {mention(CONSULTANT)} approver")
    assert "can never approve on the customer's behalf" in ephemeral_texts(h, LEAD.user_id)[-1]
    h.command(f"role {mention(APPROVER)} approver gate=nope")
    assert "There is no gate `nope`" in ephemeral_texts(h, LEAD.user_id)[-1]
    h.command(f"role {mention(APPROVER)} wizard")
    assert "is not a role" in ephemeral_texts(h, LEAD.user_id)[-1]


def test_approver_approves_and_the_next_phase_is_announced(engaged, clock):
    h = engaged
    finish_phase(h, 2, 9)
    request_signoff(h, "solution_design")
    msg = request_msg(h, "solution_design")
    shown = blocks_text(msg["blocks"])
    assert "Sign-off requested: Solution design sign-off" in shown
    assert "*What is being approved*" in shown and "2.4 Demo the complete solution workflow" in shown
    req = requests(h, "solution_design")[0]
    # The fingerprint is kept with the request and the decision, not shown to a finance approver.
    assert len(req.fingerprint) == 12 and req.fingerprint not in shown and "Fingerprint" not in shown
    # It certifies the gate's own items, not all of Solutioning's.
    assert "2.1 Outline pricing models" in shown and "2.2 Design the integration schema" not in shown
    # Who may approve is named without a ping; a note in the request's thread mentions them once.
    assert "*Who may approve:* Ada Approver" in shown and f"<@{APPROVER.user_id}>" not in shown
    [note] = h.standin.replies(CHANNEL, msg["ts"])
    assert blocks_text(note["blocks"]).count(f"<@{APPROVER.user_id}>") == 1
    assert "your sign-off is requested on *Solution design sign-off*" in blocks_text(note["blocks"])
    approve_btn = next(
        e
        for b in msg["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"].startswith("signoff_approve")
    )
    # No confirm before the permission check: whoever may not approve is refused at once, and an
    # approver confirms in a form that says what they certify.
    assert "confirm" not in approve_btn
    h.driver.click(CHANNEL, msg["ts"], approve_btn["action_id"], user=APPROVER.user_id)
    h.idle()
    [form] = h.standin.open_views(APPROVER.user_id)
    assert "All 4 of its items are done" in blocks_text(form["view"]["blocks"])
    h.driver.close_view(form["id"], user=APPROVER.user_id)
    approve(h, "solution_design", APPROVER)
    [d] = decisions(h)
    assert (d.decision, d.user_id, d.team_id, d.display_name, d.gate_key, d.version, d.fingerprint) == (
        "approved",
        APPROVER.user_id,
        CUSTOMER_TEAM,
        "Ada Approver",
        "solution_design",
        1,
        req.fingerprint,
    )
    assert d.decided_at == clock.now()
    # The same message, updated in place: decision shown, buttons gone.
    updated = h.standin.message(CHANNEL, msg["ts"])
    assert updated["edited"]
    assert f"*Approved* by <@{APPROVER.user_id}> (Ada Approver, Acme Corp)" in blocks_text(updated["blocks"])
    assert not [b for b in updated["blocks"] if b["type"] == "actions"]
    assert engagement(h).phase_index == 2  # the second gate of Solutioning is still open
    request_signoff(h, "integration_workflows")
    approve(h, "integration_workflows", APPROVER)
    assert engagement(h).phase_index == 3
    assert [m for m in posts(h) if "Phase 3, Configurations, starts now" in m["text"]]
    assert checklist_msg(h, 3)


@pytest.mark.parametrize("who", [LEAD, CONSULTANT, CONTRIBUTOR, OUTSIDER], ids=lambda p: p.title)
def test_everyone_but_the_approver_is_refused(engaged, who):
    h = engaged
    request_signoff(h, "solution_design")
    before = audit_kinds(h)
    approve(h, "solution_design", who)
    assert decisions(h) == []
    assert audit_kinds(h) == before
    msg = ephemeral_texts(h, who.user_id)[-1]
    assert "Only Ada Approver can approve Solution design sign-off" in msg and "Nothing was changed" in msg
    if who.team_id != CUSTOMER_TEAM:
        assert "never approve on the customer's behalf" in msg
    assert [b for b in request_msg(h, "solution_design")["blocks"] if b["type"] == "actions"]


def sign_offs_line(h) -> str:
    """The checklist's line of the phase's sign-offs and their state (phase 2)."""
    return next(
        t for t in blocks_text(checklist_msg(h, 2)["blocks"]).splitlines() if t.startswith("*Sign-offs:*")
    )


def test_request_changes_then_re_request_supersedes(engaged):
    h = engaged
    assert sign_offs_line(h) == (
        "*Sign-offs:* :hourglass_flowing_sand: Solution design sign-off — not requested yet"
        " · :hourglass_flowing_sand: Integration workflows approval — not requested yet"
    )
    request_signoff(h, "solution_design")
    h.idle()
    assert "Solution design sign-off — awaiting approval (version 1) ·" in sign_offs_line(h)
    v1 = request_msg(h, "solution_design")
    req1 = requests(h, "solution_design")[0]
    h.driver.click(CHANNEL, v1["ts"], f"signoff_changes:{req1.id}", user=APPROVER.user_id)
    h.idle()
    [view] = h.standin.open_views(APPROVER.user_id)
    empty = h.driver.submit_view(
        view["id"], {"reason": {"value": " "}}, user=APPROVER.user_id, enforce_required=False
    )
    assert empty.json["response_action"] == "errors"
    h.driver.submit_view(
        view["id"], {"reason": {"value": "Usage tiers are wrong for EU customers"}}, user=APPROVER.user_id
    )
    h.idle()
    [d] = decisions(h)
    assert d.decision == "changes_requested" and d.reason == "Usage tiers are wrong for EU customers"
    with h.services.db.session() as session:
        assert session.exec(select(Gate).where(Gate.key == "solution_design")).one().status == "open"
    # The requester (here the lead) hears of it, in the request's thread.
    [note] = [m for m in posts(h) if "Changes requested on Solution design" in m["text"]]
    assert note["thread_ts"] == v1["ts"] and notified_by(h, note)[LEAD.user_id] == "mention"
    assert "Solution design sign-off — changes requested ·" in sign_offs_line(h)
    # Re-request: version 2; version 1 is marked superseded and its buttons stop working.
    stale = button_payload(h, v1, f"signoff_approve:{req1.id}", APPROVER.user_id)
    request_signoff(h, "solution_design", note="EU usage tiers now follow the price book")
    req1, req2 = requests(h, "solution_design")
    v2 = blocks_text(request_msg(h, "solution_design", 2)["blocks"])  # it quotes the request and what changed
    assert "Changes requested on version 1* by Ada Approver" in v2 and "Usage tiers are wrong" in v2
    assert "*What changed:* EU usage tiers now follow the price book" in v2
    assert (req1.status, req2.status, req2.version) == ("superseded", "open", 2)
    old = h.standin.message(CHANNEL, v1["ts"])
    assert "Superseded by version 2" in blocks_text(old["blocks"])
    assert not [b for b in old["blocks"] if b["type"] == "actions"]
    send_payload(h, stale)  # a client still showing the old buttons
    h.idle()
    assert len(decisions(h)) == 1
    assert "replaced by version 2" in ephemeral_texts(h, APPROVER.user_id)[-1]
    h.idle()
    assert "Solution design sign-off — awaiting approval (version 2) ·" in sign_offs_line(h)
    approve(h, "solution_design", APPROVER)
    assert [d.version for d in decisions(h) if d.decision == "approved"] == [2]
    h.idle()
    approved = decisions(h)[-1].decided_at
    assert sign_offs_line(h).startswith(
        f"*Sign-offs:* :white_check_mark: Solution design sign-off — approved by {APPROVER.name} on {approved:%a %-d %b} ·"
    )
    assert sign_offs_line(h).endswith("Integration workflows approval — not requested yet")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_twenty_concurrent_approvals_make_one_decision(harness_factory, request, backend):
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    h = harness_factory(url)
    h.command("start Acme Corp")
    h.command(f"role {mention(APPROVER)} approver")
    h.command(f"role {mention(SPONSOR)} approver")  # a second approver racing the first
    request_signoff(h, "solution_design")
    req = requests(h, "solution_design")[0]
    msg = request_msg(h, "solution_design")
    # Both approvers open the Approve form; then twenty submissions race (double clicks on
    # Approve, retried requests), alternating between the two.
    forms = {}
    for who in (APPROVER, SPONSOR):
        h.driver.click(CHANNEL, msg["ts"], f"signoff_approve:{req.id}", user=who.user_id)
        h.idle()
        [forms[who.user_id]] = h.standin.open_views(who.user_id)
    clicks = [
        h.driver.submit_payload(forms[who.user_id]["id"], {}, user=who.user_id)
        for who in [APPROVER, SPONSOR] * 10
    ]
    clicks.append(clicks[0])  # and a retried request
    before = len(h.standin.calls_to("users.info"))
    with ThreadPoolExecutor(max_workers=21) as pool:
        results = list(pool.map(lambda p: send_payload(h, p), clicks))
    h.idle()
    assert all(r.status == 200 for r in results)
    assert len(decisions(h)) == 1
    # The name recorded with a decision is asked of Slack fresh, once for clicks that came
    # together, not twenty times: a burst past users.info's Tier 4 would be answered 429.
    assert not h.standin.ratelimited_responses("users.info")
    assert len(h.standin.calls_to("users.info")) - before < 10
    assert audit_kinds(h).count("signoff.approved") == 1
    assert len([m for m in posts(h) if " approved Solution design sign-off" in m["text"]]) == 1


def test_request_button_on_a_complete_phase(engaged):
    h = engaged
    footer = lambda: next(b for b in checklist_msg(h, 2)["blocks"] if b.get("block_id") == "checklist_footer")  # noqa: E731
    assert not [e for e in footer()["elements"] if e["action_id"].startswith("signoff_request")]
    finish_phase(h, 2, 9)
    buttons = [e for e in footer()["elements"] if e["action_id"].startswith("signoff_request")]
    assert [b["text"]["text"] for b in buttons] == [
        "Request sign-off: Solution design sign-off",
        "Request sign-off: Integration workflows approval",
    ]
    ts = checklist_msg(h, 2)["ts"]
    h.driver.click(CHANNEL, ts, buttons[0]["action_id"], user=CONTRIBUTOR.user_id)
    h.idle()
    assert requests(h, "solution_design") == []
    assert "Only the implementation team requests sign-offs" in ephemeral_texts(h, CONTRIBUTOR.user_id)[-1]
    h.driver.click(CHANNEL, ts, buttons[0]["action_id"], user=LEAD.user_id)
    h.idle()
    assert len(requests(h, "solution_design")) == 1
    assert "awaiting approval (version 1)" in blocks_text(checklist_msg(h, 2)["blocks"])


def test_team_modal_adds_and_removes_roles(engaged):
    h = engaged
    h.command("team")
    # The team listing is ephemeral; its button opens the modal.
    eph = h.standin.ephemerals(channel=CHANNEL, user=LEAD.user_id)[-1]
    assert any(e.get("action_id") == "team_manage" for b in eph["blocks"] for e in b.get("elements", []))
    h.driver.click_ephemeral(CHANNEL, eph["ts"], "team_manage", user=LEAD.user_id)
    h.idle()
    [view] = h.standin.open_views(LEAD.user_id)
    assert "Ada Approver" in blocks_text(view["view"]["blocks"]) or APPROVER.user_id in blocks_text(
        view["view"]["blocks"]
    )
    # Picking a person looks them up, so the submit is answered in the form itself.
    h.driver.click_view(
        view["id"], "value", block_id="person", selected_user=CONSULTANT.user_id, user=LEAD.user_id
    )
    h.idle()
    r = h.driver.submit_view(
        view["id"],
        {"person": {"value": CONSULTANT.user_id}, "role": {"value": "approver"}},
        user=LEAD.user_id,
    )
    assert r.json["response_action"] == "errors" and "vendor's side" in r.json["errors"]["person"]
    r = h.driver.submit_view(
        view["id"],
        {"person": {"value": CONSULTANT.user_id}, "role": {"value": "consultant"}},
        user=LEAD.user_id,
    )
    assert r.json["response_action"] == "update"
    assert "Carl Consultant is now a consultant" in blocks_text(h.standin.view(view["id"])["view"]["blocks"])
    with h.services.db.session() as session:
        from bot.people import roles

        rows = roles.team(session, engagement(h))
    row = next(r for r in rows if r.user_id == CONSULTANT.user_id and r.role == "consultant")
    h.driver.click_view(view["id"], f"team_remove:{row.role_id}", user=LEAD.user_id)
    h.idle()
    with h.services.db.session() as session:
        from bot.people import roles

        assert not [r for r in roles.team(session, engagement(h)) if r.user_id == CONSULTANT.user_id]
    assert "role.removed" in audit_kinds(h)


def test_audit_csv_holds_every_event_in_order(engaged):
    h = engaged
    h.command(f"assign 2.5 {mention(CONTRIBUTOR)}")
    h.command("due 2.5 2026-12-20")
    h.command("na 2.8 No API ingestion")
    request_signoff(h, "solution_design")
    req1 = requests(h, "solution_design")[0]
    h.driver.click(
        CHANNEL, request_msg(h, "solution_design")["ts"], f"signoff_changes:{req1.id}", user=APPROVER.user_id
    )
    h.idle()
    [view] = h.standin.open_views(APPROVER.user_id)
    h.driver.submit_view(view["id"], {"reason": {"value": "Fix the tiers"}}, user=APPROVER.user_id)
    h.idle()
    request_signoff(h, "solution_design")
    approve(h, "solution_design", APPROVER)
    h.command("plan target=2027-02-26")
    h.command("audit")
    [f] = h.standin.files
    rows = list(csv.DictReader(io.StringIO(f["content"].decode())))
    kinds = [r["kind"] for r in rows]
    assert kinds == [
        "engagement.started",
        "role.added",
        "role.added",
        "role.added",
        *["item.done"] * 6,
        "phase.completed",
        "item.assigned",
        "item.due",
        "item.na",
        "signoff.requested",
        "signoff.changes_requested",
        "signoff.superseded",
        "signoff.requested",
        "signoff.approved",
        "plan.changed",
    ]
    assert [int(r["id"]) for r in rows] == sorted(int(r["id"]) for r in rows)
    approved = rows[kinds.index("signoff.approved")]
    assert (approved["actor_id"], approved["actor_team"], approved["subject"]) == (
        APPROVER.user_id,
        CUSTOMER_TEAM,
        "solution_design",
    )
    assert all(r["time_utc"].endswith("+00:00") for r in rows)
    assert count(h, AuditEvent) == len(rows)


def test_blocked_upload_falls_back_to_an_ephemeral_summary(engaged):
    h = engaged
    h.standin.block_file_uploads(CHANNEL)
    h.command("audit")
    assert h.standin.files == [] or all(f.get("channel_id") != CHANNEL for f in h.standin.files)
    summary = ephemeral_texts(h, LEAD.user_id)[-1]
    assert "Slack refused the CSV in this channel" in summary
    assert "files are blocked by a Slack Connect admin" in summary
    assert "phase.completed" in summary and "last 11 entries of 11" in summary


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_audit_rows_cannot_be_changed(harness_factory, request, backend):
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    h = harness_factory(url)
    h.command("start Acme Corp")
    with h.services.db.session() as session:
        first = session.exec(select(AuditEvent)).one()
    columns = "id, engagement_id, at, actor_id, actor_team, actor_name, kind, subject, detail"
    forged = (
        f"{first.id}, {first.engagement_id}, '2026-01-01 00:00:00+00:00', 'U0EVIL', NULL, 'Eve', "
        "'forged', 'x', '{}'"
    )
    attempts = [
        "UPDATE audit_event SET kind = 'forged'",
        "DELETE FROM audit_event",
        # An upsert takes the UPDATE path, so the update trigger refuses it on both databases.
        f"INSERT INTO audit_event ({columns}) VALUES ({forged}) ON CONFLICT (id) DO UPDATE SET kind = 'forged'",
    ]
    if backend == "sqlite":
        # REPLACE deletes the old row without firing DELETE triggers; its own trigger refuses it.
        attempts += [
            f"INSERT OR REPLACE INTO audit_event ({columns}) VALUES ({forged})",
            f"REPLACE INTO audit_event ({columns}) VALUES ({forged})",
        ]
    else:
        # TRUNCATE fires no row triggers; a statement trigger refuses it.
        attempts += ["TRUNCATE audit_event", "TRUNCATE audit_event CASCADE"]
    for sql in attempts:
        with pytest.raises(DBAPIError, match="append-only"), h.services.db.session() as session:
            session.exec(text(sql))
    assert audit_kinds(h) == ["engagement.started"]
    with h.services.db.session() as session:
        row = session.exec(select(AuditEvent)).one()
    assert (row.actor_id, row.kind) == (first.actor_id, first.kind)
    # A fresh row still goes in: append-only, not read-only.
    h.command(f"role {mention(APPROVER)} approver")
    assert audit_kinds(h)[-1] == "role.added"


def test_an_open_request_follows_changes_to_its_approvers(engaged):
    h = engaged
    request_signoff(h, "solution_design")
    assert "Sam Sponsor" not in blocks_text(request_msg(h, "solution_design")["blocks"])
    h.command(f"role {mention(SPONSOR)} approver gate=solution_design")
    shown = blocks_text(request_msg(h, "solution_design")["blocks"])
    assert "Sam Sponsor" in shown and "Ada Approver" in shown
    # The new approver is told once, in the request's thread.
    told = [
        m
        for m in h.standin.replies(CHANNEL, request_msg(h, "solution_design")["ts"])
        if f"<@{SPONSOR.user_id}>" in blocks_text(m["blocks"])
    ]
    assert len(told) == 1 and "you are now an approver of *Solution design sign-off*" in blocks_text(
        told[0]["blocks"]
    )
    h.command(f"role {mention(APPROVER)} remove approver")
    shown = blocks_text(request_msg(h, "solution_design")["blocks"])
    assert "Ada Approver" not in shown.split("Who may approve:")[1]


def test_team_form_with_someone_not_looked_up_yet_answers_after_the_ack(engaged):
    h = engaged
    h.command("team")
    eph = h.standin.ephemerals(channel=CHANNEL, user=LEAD.user_id)[-1]
    h.driver.click_ephemeral(CHANNEL, eph["ts"], "team_manage", user=LEAD.user_id)
    h.idle()
    [view] = h.standin.open_views(LEAD.user_id)
    users_info_before = len(h.standin.calls_to("users.info"))
    told_before = len(ephemeral_texts(h, LEAD.user_id))
    r = h.driver.submit_view(
        view["id"],
        {"person": {"value": OUTSIDER.user_id}, "role": {"value": "contributor"}},
        user=LEAD.user_id,
    )
    h.idle()
    assert r.status == 200 and r.json["response_action"] == "update"  # acked at once: the form stays
    assert "Looking them up" in blocks_text(r.json["view"]["blocks"])
    assert len(h.standin.calls_to("users.info")) == users_info_before + 1  # looked up after the ack
    # Then the form shows why, under the Person field, the advice whole.
    blocks = h.standin.view(view["id"])["view"]["blocks"]
    person = next(n for n, b in enumerate(blocks) if b.get("block_id") == "person")
    problem = blocks[person + 1]
    assert problem["block_id"] == "problem"
    assert "is on the vendor's side" in problem["elements"][0]["text"]
    assert problem["elements"][0]["text"].endswith("first run side @Olaf Other customer.")
    assert h.standin.open_views(LEAD.user_id), "the form stays open"
    assert len(ephemeral_texts(h, LEAD.user_id)) == told_before, "nothing said outside the form"
