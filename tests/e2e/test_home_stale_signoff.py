"""A stale App Home's **Request sign-off** (issue 25, part 1): the button of a Home drawn before a
colleague requested the gate, before it was approved or before one of its phase's items was
reopened is refused on the server, the request that waits is left exactly as it is, and the Home
is drawn again with a note saying why.

The stale click is what a Slack client that still shows the old Home sends: the old view's
button, signed, over HTTP into the bot.
"""

from __future__ import annotations

import copy
from typing import Any

from sqlmodel import select

from sandbox.harness import APPROVER, CHANNEL, CONSULTANT, LEAD, Persona
from storage.models import EngagementPhase, Gate, Item, SignoffRequest
from tests.e2e.helpers import (
    approve_request,
    blocks_text,
    direct_messages,
    engagement,
    ephemeral_texts,
    mention,
    posts,
    request_signoff,
    send_payload,
    shown,
)


def refs(h: Any, phase: int) -> list[str]:
    e = engagement(h)
    assert e is not None
    with h.services.db.read() as session:
        p = session.exec(
            select(EngagementPhase).where(
                EngagementPhase.engagement_id == e.id, EngagementPhase.number == phase
            )
        ).one()
        items = session.exec(select(Item).where(Item.phase_id == p.id).order_by(Item.number)).all()
    return [f"{phase}.{i.number}" for i in items]


def ready_home(h: Any) -> tuple[dict[str, Any], str, Gate]:
    """Acme in Solutioning with its items done, so the Home offers a Request sign-off: the lead's
    Home as published then (a copy: the stand-in keeps the newest), the button's action id, and
    its gate."""
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(APPROVER)} approver")
    h.command("done " + " ".join(refs(h, 1)))  # Discovery done: Solutioning now
    h.command("done " + " ".join(refs(h, 2)))  # its items done: its gate is ready
    h.driver.app_home_opened(LEAD.user_id)
    h.idle()
    home = h.standin.home(LEAD.user_id)
    assert home is not None
    [button] = [
        el
        for b in home["view"]["blocks"]
        if b["type"] == "actions"
        for el in b["elements"]
        if el["action_id"].startswith("home_signoff:")
    ]
    with h.services.db.read() as session:
        gate = session.get(Gate, int(button["action_id"].split(":")[1]))
    assert gate is not None
    return copy.deepcopy(home), button["action_id"], gate


def click_stale(h: Any, home: dict[str, Any], action_id: str, who: Persona = LEAD) -> None:
    """Click `action_id` on the Home as it was published then (`home`), not as it is now."""
    el = next(
        e
        for b in home["view"]["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action_id
    )
    u = h.standin.user(who.user_id)
    send_payload(
        h,
        {
            "type": "block_actions",
            "user": {"id": u.id, "username": u.name, "name": u.name, "team_id": u.team_id},
            "api_app_id": "A0GOLIVE",
            "container": {"type": "view", "view_id": home["id"]},
            "trigger_id": h.standin.issue_trigger(who.user_id),
            "team": {"id": "T0VENDOR"},
            "view": {
                "id": home["id"],
                "type": "home",
                "blocks": home["view"]["blocks"],
                "private_metadata": home["view"].get("private_metadata") or "",
            },
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "card",
                    "value": el["value"],
                    "action_ts": "1",
                }
            ],
        },
    )
    h.idle()


def requests_of(h: Any, gate: Gate) -> list[tuple[int, str, str | None, str]]:
    with h.services.db.read() as session:
        rows = session.exec(select(SignoffRequest).where(SignoffRequest.gate_id == gate.id)).all()
    return sorted((r.version, r.status, r.ts, r.requested_by) for r in rows)


def request_posts(h: Any) -> list[dict[str, Any]]:
    return [m for m in posts(h) if "signoff_approve:" in str(m.get("blocks"))]


def publishes_to(h: Any, user: str) -> int:
    return sum(1 for c in h.standin.calls_to("views.publish") if c.args.get("user_id") == user)


def home_text(h: Any, who: Persona = LEAD) -> str:
    home = h.standin.home(who.user_id)
    assert home is not None
    return shown(blocks_text(home["view"]["blocks"]))


def test_a_stale_home_button_leaves_the_open_request_as_it_is_and_says_why_on_the_home(harness):
    h = harness
    stale, button, gate = ready_home(h)
    request_signoff(h, gate.key, user=CONSULTANT)  # a colleague requests it from the channel
    [before] = requests_of(h, gate)
    assert before[:2] == (1, "open") and before[3] == CONSULTANT.user_id
    [request] = request_posts(h)
    request_blocks = h.standin.message(CHANNEL, request["ts"])["blocks"]
    published = publishes_to(h, LEAD.user_id)

    click_stale(h, stale, button)

    # The request that waits is exactly as it was: same version, same message, still open.
    assert requests_of(h, gate) == [before]
    assert [m["ts"] for m in request_posts(h)] == [request["ts"]]
    now = h.standin.message(CHANNEL, request["ts"])
    assert now["blocks"] == request_blocks
    assert "Superseded" not in shown(blocks_text(now["blocks"]))
    # The clicker is told on their Home, drawn again as things are now: the note, and no button
    # for that gate.
    assert publishes_to(h, LEAD.user_id) > published
    text = home_text(h)
    assert f"{gate.title} is already waiting for a decision (version 1)" in text
    assert "Nothing was changed" in text and "Open the request" in text
    home = h.standin.home(LEAD.user_id)
    assert home is not None
    assert f'"home_signoff:{gate.id}"' not in str(home["view"]["blocks"]).replace("'", '"')
    # …and only there: no private message in the channel, no direct message.
    assert not [t for t in ephemeral_texts(h, LEAD.user_id) if "waiting for a decision" in t]
    assert not [m for m in direct_messages(h, LEAD) if "waiting for a decision" in str(m)]


def test_a_stale_home_button_after_the_gate_was_approved_requests_nothing(harness):
    h = harness
    stale, button, gate = ready_home(h)
    request_signoff(h, gate.key, user=CONSULTANT)
    with h.services.db.read() as session:
        row = session.exec(select(SignoffRequest).where(SignoffRequest.gate_id == gate.id)).one()
    approve_request(h, str(row.ts), int(row.id), APPROVER)  # type: ignore[arg-type]
    with h.services.db.read() as session:
        assert session.get(Gate, gate.id).status == "approved"  # type: ignore[union-attr]
    before, posted = requests_of(h, gate), len(request_posts(h))

    click_stale(h, stale, button)

    assert requests_of(h, gate) == before and len(request_posts(h)) == posted
    assert f"{gate.title} is already approved. Nothing was changed." in home_text(h)


def test_a_stale_home_button_after_an_item_was_reopened_requests_nothing(harness):
    h = harness
    stale, button, gate = ready_home(h)
    reopened = refs(h, 2)[0]
    h.command(f"undo {reopened}")  # the phase has an open item again

    click_stale(h, stale, button)

    assert requests_of(h, gate) == [] and request_posts(h) == []
    text = home_text(h)
    assert f"{gate.title} is no longer ready for a request from here: 1 of" in text
    assert "items is open again" in text and f"{h.services.command} signoff {gate.key}" in text


def test_the_home_button_as_drawn_still_requests_the_gate(harness):
    """The check refuses stale buttons only: a Home that is up to date requests as before."""
    h = harness
    stale, button, gate = ready_home(h)

    click_stale(h, stale, button)

    [row] = requests_of(h, gate)
    [request] = request_posts(h)
    assert row[:3] == (1, "open", request["ts"]) and row[3] == LEAD.user_id
    assert "Requested the " in home_text(h)
