"""Issue 12, part 6: dry runs and gates that tell the truth. A gate that waits on something else is
not nudged; its text says what is true now and changes when that does; a dry-run outcome is
recorded from its start time only; each attempt's outcome is kept, the reschedule posted in the
same thread and the earlier announcement marked superseded.

End to end: signed requests into the bot, the stand-in answering and validating every call.
"""

from __future__ import annotations

from sqlmodel import select

from sandbox.harness import APPROVER, CHANNEL, LEAD
from storage.models import DryRunAttempt, SignoffDecision, SignoffRequest
from tests.e2e.helpers import (
    at,
    blocks_text,
    button_payload,
    ephemeral_texts,
    reminder_kind,
    reminder_payload,
    request_signoff,
    send_payload,
)


def top_level(h) -> list[dict]:
    return h.standin.top_level(CHANNEL)


def final_request(h) -> tuple[SignoffRequest, dict]:
    with h.services.db.read() as session:
        req = session.exec(select(SignoffRequest).order_by(SignoffRequest.id.desc())).first()
    return req, h.standin.message(CHANNEL, req.ts)


def buttons(message: dict) -> list[str]:
    return [
        e["action_id"].split(":")[0]
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ]


def sign_off_nudges(h, request_ts: str) -> list[dict]:
    return [m for m in h.standin.replies(CHANNEL, request_ts) if reminder_kind(m) == "nudge"]


def attempts(h) -> list[DryRunAttempt]:
    with h.services.db.read() as session:
        return list(session.exec(select(DryRunAttempt).order_by(DryRunAttempt.number)).all())


def announcements(h) -> list[dict]:
    with h.services.db.read() as session:
        rows = session.exec(select(DryRunAttempt).order_by(DryRunAttempt.number)).all()
    return [h.standin.message(CHANNEL, r.ts) for r in rows]


def test_a_gate_waiting_for_the_dry_run_is_not_nudged_and_says_what_is_true_now(small):
    h = small
    request_signoff(h, "final_golive")
    req, shown = final_request(h)
    text = blocks_text(shown["blocks"])
    assert "dry run passed" not in text  # neither the gate's words nor the status claim it
    assert "waits for a passed go-live dry run; none is scheduled yet" in text
    assert buttons(shown) == ["signoff_changes"]  # nothing to approve yet
    for day in ("2026-12-03", "2026-12-07", "2026-12-09"):
        at(h, f"{day}T10:00:00+01:00")
        h.run_sweep()
    assert sign_off_nudges(h, req.ts) == []  # its approver is not asked for the impossible
    h.command("dryrun 2026-12-16 10:00")
    assert (
        "waits for the go-live dry run, scheduled for Wed 16 Dec 10:00 (Europe/Berlin), to pass"
        in blocks_text(final_request(h)[1]["blocks"])
    )
    at(h, "2026-12-16T10:00:00+01:00")
    h.run_sweep()
    h.idle()
    assert "has started; no outcome is recorded yet" in blocks_text(final_request(h)[1]["blocks"])
    [announcement] = announcements(h)
    h.driver.click(CHANNEL, announcement["ts"], "dryrun_passed", user=LEAD.user_id)
    h.idle()
    _, shown = final_request(h)
    assert "passed, recorded by Lena Lead: this can be approved" in blocks_text(shown["blocks"])
    assert buttons(shown) == ["signoff_approve", "signoff_changes"]
    # Its patience starts when it could be decided: not nudged two business days after the pass…
    at(h, "2026-12-18T10:00:00+01:00")
    h.run_sweep()
    assert sign_off_nudges(h, req.ts) == []
    at(h, "2026-12-21T10:00:00+01:00")  # …but after three
    h.run_sweep()
    [nudge] = sign_off_nudges(h, req.ts)
    assert f"<@{APPROVER.user_id}>" in blocks_text(nudge["blocks"])


def test_approving_a_gate_that_waits_is_refused_even_from_a_stale_button(small):
    h = small
    request_signoff(h, "final_golive")
    req, shown = final_request(h)
    stale = dict(shown)
    stale["blocks"] = [
        {
            "type": "actions",
            "block_id": "stale",
            "elements": [{"type": "button", "action_id": f"signoff_approve:{req.id}", "value": str(req.id)}],
        }
    ]
    send_payload(h, button_payload(h, stale, f"signoff_approve:{req.id}", APPROVER.user_id))
    h.idle()
    assert "waits for a passed go-live dry run" in ephemeral_texts(h, APPROVER.user_id)[-1]
    with h.services.db.read() as session:
        assert session.exec(select(SignoffDecision)).all() == []


def test_dry_run_history_outcomes_from_the_start_time_kept_across_reschedules(small):
    h = small
    h.command("dryrun 2026-12-16 10:00")
    [first] = announcements(h)
    assert first in [h.standin.message(CHANNEL, m["ts"]) for m in top_level(h)]
    assert buttons(first) == []  # nothing to record before it starts
    # A click a week early (a forged or stale button) is refused; nothing is recorded.
    early = dict(first)
    early["blocks"] = [
        {
            "type": "actions",
            "block_id": "early",
            "elements": [{"type": "button", "action_id": "dryrun_passed", "value": str(attempts(h)[0].id)}],
        }
    ]
    at(h, "2026-12-09T10:00:00+01:00")
    send_payload(h, button_payload(h, early, "dryrun_passed", LEAD.user_id))
    h.idle()
    assert "record its outcome once it has started" in ephemeral_texts(h, LEAD.user_id)[-1]
    assert attempts(h)[0].outcome is None
    # From its start the announcement offers the outcome.
    at(h, "2026-12-16T10:00:00+01:00")
    h.run_sweep()
    h.idle()
    assert buttons(h.standin.message(CHANNEL, first["ts"])) == ["dryrun_passed", "dryrun_issues"]
    h.driver.click(CHANNEL, first["ts"], "dryrun_issues", user=APPROVER.user_id)
    h.idle()
    [view] = h.standin.open_views(APPROVER.user_id)
    h.driver.submit_view(
        view["id"], {"notes": {"value": "Tax rounding differs by a cent"}}, user=APPROVER.user_id
    )
    h.idle()
    shown = blocks_text(h.standin.message(CHANNEL, first["ts"])["blocks"])
    assert "*Issues found* — recorded by Ada Approver" in shown and "Tax rounding differs by a cent" in shown
    outcome_notes = [m for m in h.standin.replies(CHANNEL, first["ts"]) if "found issues" in m["text"]]
    assert len(outcome_notes) == 1  # the outcome is told in the thread, not at the top level
    tops = len(top_level(h))
    # Rescheduling: the new attempt is announced in the same thread; the first is superseded and
    # keeps its "Issues found".
    h.command("dryrun 2026-12-17 10:00")
    first_now, second = announcements(h)
    assert len(top_level(h)) == tops
    assert second["thread_ts"] == first["ts"]
    old = blocks_text(first_now["blocks"])
    assert "*Superseded* — rescheduled to Thu 17 Dec 10:00" in old
    assert "*Issues found* — recorded by Ada Approver" in old and "Tax rounding differs by a cent" in old
    assert buttons(first_now) == []
    # The first attempt's button from a stale client: refused, the first outcome stays.
    stale = dict(first_now)
    stale["blocks"] = [
        {
            "type": "actions",
            "block_id": "stale",
            "elements": [{"type": "button", "action_id": "dryrun_passed", "value": str(attempts(h)[0].id)}],
        }
    ]
    at(h, "2026-12-17T10:00:00+01:00")
    h.run_sweep()
    h.idle()
    send_payload(h, button_payload(h, stale, "dryrun_passed", LEAD.user_id))
    h.idle()
    assert "That dry run was rescheduled" in ephemeral_texts(h, LEAD.user_id)[-1]
    second = h.standin.message(CHANNEL, second["ts"])
    assert buttons(second) == ["dryrun_passed", "dryrun_issues"]
    h.driver.click(CHANNEL, second["ts"], "dryrun_passed", user=LEAD.user_id)
    h.idle()
    one, two = attempts(h)
    assert (one.outcome, one.notes, one.superseded_at is not None) == (
        "issues",
        "Tax rounding differs by a cent",
        True,
    )
    assert (two.outcome, two.superseded_at) == ("passed", None)
    assert "*Dry run passed* — recorded by Lena Lead" in blocks_text(
        h.standin.message(CHANNEL, second["ts"])["blocks"]
    )
    assert "Tax rounding differs by a cent" in blocks_text(h.standin.message(CHANNEL, first["ts"])["blocks"])
    # The reminders of both attempts went in the one thread.
    reminders = [
        m
        for m in h.standin.replies(CHANNEL, first["ts"])
        if reminder_kind(m) == "dryrun" and reminder_payload(m)["key"].endswith(":t0")
    ]
    assert len(reminders) == 2
