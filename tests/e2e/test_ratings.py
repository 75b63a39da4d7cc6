"""Issue 28, part 1: a one-tap rating at each milestone, asked privately of the approver only."""

from __future__ import annotations

import copy
import json

import pytest
from sqlmodel import select

from sandbox.harness import APPROVER, CHANNEL, CONSULTANT, CONTRIBUTOR, LEAD, SPONSOR
from standin.api_chat import record_ephemeral
from storage.models import AuditEvent, Rating
from tests.e2e.helpers import (
    at,
    blocks_text,
    button_payload,
    engagement,
    ephemeral_texts,
    posts,
    request_signoff,
    send_payload,
)
from tests.e2e.test_signoffs import approve, finish_phase, mention, requests

ASKED = "How did Solution design sign-off go?"


def rating_rows(h) -> list[Rating]:
    with h.services.db.read() as session:
        return list(session.exec(select(Rating).order_by(Rating.id)).all())


def rating_audit(h) -> list[AuditEvent]:
    with h.services.db.read() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.kind == "rating.given")).all())


def asks(h, user) -> list[dict]:
    return [
        e
        for e in h.standin.ephemerals(user=user.user_id)
        if "How did" in (e.get("text") or "") + blocks_text(e.get("blocks") or [])
    ]


def dm_texts(h, user) -> list[str]:
    im = h.standin.im_channel(user.user_id)
    if im is None:
        return []
    return [(m.get("text") or "") + "\n" + blocks_text(m.get("blocks") or []) for m in h.standin.messages(im)]


def start(h) -> None:
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(APPROVER)} approver")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    h.command(f"role {mention(SPONSOR)} sponsor")
    finish_phase(h, 1, 6)
    finish_phase(h, 2, 9)
    request_signoff(h, "solution_design")
    approve(h, "solution_design", APPROVER)


@pytest.fixture
def rated(harness):
    start(harness)
    return harness


def rate(h, ask: dict, score: int, comment: str | None = None, *, user=APPROVER) -> None:
    """Click a score on the ask, then send the form that opens (with `comment`)."""
    action = next(
        el["action_id"]
        for b in ask["blocks"]
        if b["type"] == "actions"
        for el in b["elements"]
        if el["action_id"].endswith(f":{score}")
    )
    before = {v["id"] for v in h.standin.open_views(user.user_id)}
    h.driver.click_ephemeral(ask["channel"], ask["ts"], action, user=user.user_id)
    h.idle()
    opened = [
        v
        for v in h.standin.open_views(user.user_id)
        if v["id"] not in before and v["view"].get("callback_id") == "rating_submit"
    ]
    if opened:
        values = {"comment": {"value": comment}} if comment else {}
        h.driver.submit_view(opened[-1]["id"], values, user=user.user_id)
        h.idle()


def test_an_approval_asks_only_the_approver_privately(rated):
    h = rated
    [ask] = asks(h, APPROVER)
    assert ask["channel"] == CHANNEL  # an ephemeral in the engagement's channel: only they see it
    assert ASKED in blocks_text(ask["blocks"])
    buttons = [el for b in ask["blocks"] if b["type"] == "actions" for el in b["elements"]]
    assert [el["text"]["text"] for el in buttons] == ["1", "2", "3", "4", "5"]
    # Nobody else is asked, and nothing about it reaches the channel or anyone's DMs.
    for other in (LEAD, CONSULTANT, CONTRIBUTOR, SPONSOR):
        assert not asks(h, other)
        assert not [t for t in dm_texts(h, other) if "How did" in t]
    assert not [
        m for m in posts(h) if "How did" in (m.get("text") or "") + blocks_text(m.get("blocks") or [])
    ]
    [row] = rating_rows(h)
    assert (row.user_id, row.milestone, row.score) == (APPROVER.user_id, "solution_design", None)


def open_form(h, ask: dict, score: int, *, user=APPROVER) -> str:
    """Click a score on the ask: the id of the form that opens."""
    action = next(
        el["action_id"]
        for b in ask["blocks"]
        if b["type"] == "actions"
        for el in b["elements"]
        if el["action_id"].endswith(f":{score}")
    )
    before = {v["id"] for v in h.standin.open_views(user.user_id)}
    h.driver.click_ephemeral(ask["channel"], ask["ts"], action, user=user.user_id)
    h.idle()
    [opened] = [v["id"] for v in h.standin.open_views(user.user_id) if v["id"] not in before]
    return opened


def test_a_rating_is_kept_and_a_second_is_refused(rated):
    h = rated
    [ask] = asks(h, APPROVER)
    stale = copy.deepcopy(ask)
    h.driver.submit_view(
        open_form(h, ask, 4), {"comment": {"value": "Clear & quick <b>"}}, user=APPROVER.user_id
    )
    h.idle()
    [row] = rating_rows(h)
    assert (row.score, row.comment) == (4, "Clear & quick <b>")
    assert row.rated_at is not None
    [event] = rating_audit(h)
    assert event.actor_id == APPROVER.user_id and event.subject == "solution_design"
    assert json.loads(event.detail) == {
        "score": 4,
        "comment": "Clear & quick <b>",
        "title": "Solution design sign-off",
    }
    # The ask itself became the thanks: no buttons left on screen to rate again.
    [replaced] = [e for e in h.standin.ephemerals(user=APPROVER.user_id) if e["ts"] == ask["ts"]]
    assert "Thank you! Your rating of Solution design sign-off (4 of 5) is recorded." in replaced["text"]
    assert not [b for b in replaced.get("blocks") or [] if b["type"] == "actions"]
    # A copy of the ask still on another of their screens (Slack does not promise to replace an
    # ephemeral everywhere): a second rating is refused at the click, kindly, and nothing changes.
    with h.standin.ws.lock:
        copy_of_ask = record_ephemeral(
            h.standin.ws, channel=CHANNEL, user=APPROVER.user_id, text=stale["text"], blocks=stale["blocks"]
        )
    views_before = len(h.standin.open_views(APPROVER.user_id))
    rate(h, copy_of_ask, 1, "changed my mind")
    assert len(h.standin.open_views(APPROVER.user_id)) == views_before  # no form opened
    assert "You already rated Solution design sign-off: 4 of 5" in ephemeral_texts(h, APPROVER.user_id)[-1]
    [row] = rating_rows(h)
    assert (row.score, row.comment) == (4, "Clear & quick <b>")
    assert len(rating_audit(h)) == 1
    # A good rating tells the lead nothing.
    assert not [t for t in dm_texts(h, LEAD) if "Low rating" in t]
    # The comment is the vendor's alone: `audit` in the shared channel does not show the row.
    h.command("audit")
    assert "changed my mind" not in " ".join(ephemeral_texts(h, LEAD.user_id))


def test_a_low_rating_tells_the_lead_privately_with_the_comment(rated):
    h = rated
    [ask] = asks(h, APPROVER)
    rate(h, ask, 2, "Nobody answered our questions for a week")
    [alert] = [t for t in dm_texts(h, LEAD) if "Low rating" in t]
    assert "Solution design sign-off was rated *2 of 5*" in alert
    assert f"<@{APPROVER.user_id}>" in alert
    assert "Nobody answered our questions for a week" in alert
    # Never in the channel.
    assert not [
        m for m in posts(h) if "Low rating" in (m.get("text") or "") + blocks_text(m.get("blocks") or [])
    ]


def test_anonymous_ratings_do_not_name_the_person_to_the_lead(harness_factory):
    h = harness_factory(env={"GOLIVE_RATINGS_ANONYMOUS": "true"})
    start(h)
    [ask] = asks(h, APPROVER)
    assert "without your name" in blocks_text(ask["blocks"])
    rate(h, ask, 1, "Too slow")
    [alert] = [t for t in dm_texts(h, LEAD) if "Low rating" in t]
    assert "rated *1 of 5*" in alert and "Too slow" in alert
    assert APPROVER.user_id not in alert and APPROVER.name not in alert
    [event] = rating_audit(h)
    assert event.actor_id == "anonymous" and APPROVER.name not in event.actor_name
    [row] = rating_rows(h)
    assert row.score == 1  # the row still knows who was asked: a second rating is refused


def test_nobody_is_asked_twice_within_ten_business_days(rated):
    h = rated
    assert len(asks(h, APPROVER)) == 1
    request_signoff(h, "integration_workflows")
    approve(h, "integration_workflows", APPROVER)
    # The second gate approved the same day: no second ask.
    assert len(asks(h, APPROVER)) == 1
    assert [r.milestone for r in rating_rows(h)] == ["solution_design"]


def test_someone_else_clicking_the_ask_is_refused(rated):
    """A forged click (the ask shown only to the approver) by another person records nothing."""
    h = rated
    [ask] = asks(h, APPROVER)
    rating_id = rating_rows(h)[0].id
    send_payload(h, button_payload(h, ask, f"rating:{rating_id}:5", CONTRIBUTOR.user_id))
    h.idle()
    assert not [
        v
        for v in h.standin.open_views(CONTRIBUTOR.user_id)
        if v["view"].get("callback_id") == "rating_submit"
    ]
    assert "asked of someone else" in ephemeral_texts(h, CONTRIBUTOR.user_id)[-1]
    assert rating_rows(h)[0].score is None


@pytest.mark.parametrize("dm_allowed", [False, True], ids=["ephemeral", "dm"])
def test_the_go_live_asks_the_final_approver_and_the_final_gate_does_not(small, dm_allowed):
    """The final approval's rating is the go-live's: asked once the cutover is confirmed. The
    approver is not the one clicking then, and an ephemeral shows only to someone in the channel at
    that moment: by DM where their organisation allows one with ours, else by an ephemeral."""
    from tests.e2e.test_lifecycle import walk_to_final_approval

    h = small
    walk_to_final_approval(h)
    if dm_allowed:
        h.standin.allow_external_dm(APPROVER.user_id)
    # Asked for the first gate only: every later approval came within the cooldown, or was final.
    assert [r.milestone for r in rating_rows(h)] == ["solution_design"]
    assert len(asks(h, APPROVER)) == 1
    assert "final_golive" not in [r.milestone for r in rating_rows(h)]
    before = len(asks(h, APPROVER))
    [cutover] = [m for m in posts(h) if "Final approval recorded" in m["text"]]
    h.driver.click(CHANNEL, cutover["ts"], "golive_confirm", user=LEAD.user_id)
    h.idle()
    for form in [
        v for v in h.standin.open_views(LEAD.user_id) if v["view"]["callback_id"] == "golive_confirm"
    ]:
        h.driver.submit_view(form["id"], {}, user=LEAD.user_id)
        h.idle()
    assert engagement(h).status == "live"
    if dm_allowed:
        assert asks(h, APPROVER)[before:] == []
        im = h.standin.im_channel(APPROVER.user_id)
        [ask] = [m for m in h.standin.messages(im) if "How did" in blocks_text(m.get("blocks") or [])]
        ask = {**ask, "channel": im}
        assert "How did the go-live of Acme Corp go?" in blocks_text(ask["blocks"])
        rating_id = next(r.id for r in rating_rows(h) if r.milestone == "golive")
        h.driver.click(im, ask["ts"], f"rating:{rating_id}:5", user=APPROVER.user_id)
        h.idle()
        [form] = [
            v for v in h.standin.open_views(APPROVER.user_id) if v["view"]["callback_id"] == "rating_submit"
        ]
        h.driver.submit_view(form["id"], {}, user=APPROVER.user_id)
        h.idle()
        golive = [r for r in rating_rows(h) if r.milestone == "golive"]
        assert [(r.user_id, r.score) for r in golive] == [(APPROVER.user_id, 5)]
        return
    new = asks(h, APPROVER)[before:]
    [ask] = new
    assert "How did the go-live of Acme Corp go?" in blocks_text(ask["blocks"])
    assert not asks(h, LEAD) and not asks(h, CONTRIBUTOR)
    rate(h, ask, 5)
    golive = [r for r in rating_rows(h) if r.milestone == "golive"]
    assert [(r.user_id, r.gate_id, r.score, r.comment) for r in golive] == [(APPROVER.user_id, None, 5, None)]


def test_the_ask_goes_by_dm_when_the_channel_refuses_the_ephemeral(harness):
    """An approver no longer in the channel (Slack answers user_not_in_channel) is asked by DM,
    where Slack Connect allows one; where it does not, nobody else is asked instead."""
    h = harness
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(APPROVER)} approver")
    finish_phase(h, 1, 6)
    finish_phase(h, 2, 9)
    request_signoff(h, "solution_design")
    [req] = [r for r in requests(h, "solution_design")]
    h.driver.click(CHANNEL, req.ts, f"signoff_approve:{req.id}", user=APPROVER.user_id)
    h.idle()
    [form] = [
        v for v in h.standin.open_views(APPROVER.user_id) if v["view"]["callback_id"] == "signoff_approve"
    ]
    h.standin.remove_member(CHANNEL, APPROVER.user_id)  # leaves while the form is open
    h.standin.allow_external_dm(APPROVER.user_id)  # their organisation allows DMs with ours
    h.driver.submit_view(form["id"], {}, user=APPROVER.user_id)
    h.idle()
    assert rating_rows(h)[0].user_id == APPROVER.user_id
    assert not asks(h, APPROVER)
    [dm] = [t for t in dm_texts(h, APPROVER) if ASKED in t]
    assert "Only you see this" in dm
    assert not [
        m for m in posts(h) if "How did" in (m.get("text") or "") + blocks_text(m.get("blocks") or [])
    ]
    # Rated from the DM: the same form, the same record.
    im = h.standin.im_channel(APPROVER.user_id)
    [msg] = [m for m in h.standin.messages(im) if ASKED in blocks_text(m.get("blocks") or [])]
    rating_id = rating_rows(h)[0].id
    h.driver.click(im, msg["ts"], f"rating:{rating_id}:3", user=APPROVER.user_id)
    h.idle()
    [form] = [
        v for v in h.standin.open_views(APPROVER.user_id) if v["view"]["callback_id"] == "rating_submit"
    ]
    h.driver.submit_view(form["id"], {"comment": {"value": "Fine"}}, user=APPROVER.user_id)
    h.idle()
    assert (rating_rows(h)[0].score, rating_rows(h)[0].comment) == (3, "Fine")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_sends_of_the_form_at_once_make_one_rating(harness_factory, request, backend):
    """A double submit (two forms sent at the same moment, or a retried request): one rating,
    one audit row, one alert to the lead."""
    from concurrent.futures import ThreadPoolExecutor

    h = harness_factory(request.getfixturevalue("pg_url") if backend == "postgresql" else None)
    start(h)
    [ask] = asks(h, APPROVER)
    rating_id = rating_rows(h)[0].id
    h.driver.click_ephemeral(ask["channel"], ask["ts"], f"rating:{rating_id}:2", user=APPROVER.user_id)
    h.idle()
    [form] = [
        v for v in h.standin.open_views(APPROVER.user_id) if v["view"]["callback_id"] == "rating_submit"
    ]
    payloads = [
        h.driver.submit_payload(form["id"], {"comment": {"value": f"try {n}"}}, user=APPROVER.user_id)
        for n in range(2)
    ]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda p: send_payload(h, p), payloads))
    h.idle()
    [row] = rating_rows(h)
    assert row.score == 2 and row.comment in ("try 0", "try 1")
    assert len(rating_audit(h)) == 1
    assert len([t for t in dm_texts(h, LEAD) if "Low rating" in t]) == 1


@pytest.mark.parametrize(("day", "asked"), [("2026-12-11", False), ("2026-12-14", True)])
def test_the_cooldown_ends_ten_business_days_after_the_last_ask(rated, day, asked):
    """Asked on Mon 30 Nov: Fri 11 Dec is 9 business days later (not asked), Mon 14 Dec 10 (asked)."""
    h = rated
    assert rating_rows(h)[0].asked_at.date().isoformat() == "2026-11-30"
    at(h, f"{day}T10:00:00+01:00")
    request_signoff(h, "integration_workflows")
    approve(h, "integration_workflows", APPROVER)
    assert [r.milestone for r in rating_rows(h)] == ["solution_design"] + (
        ["integration_workflows"] if asked else []
    )
    assert len(asks(h, APPROVER)) == (2 if asked else 1)
