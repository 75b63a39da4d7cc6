"""Telling people when they are given work or named to a role: a note that mentions them once (in
its text too: a push shows the text), in a thread under what it is about — the live checklist of
the item's phase, the sign-off request, the welcome for roles — never as a new top-level message.

- Items assigned to someone, or given a due date while assigned: the assignee (not when they did
  it themselves). Several items given to one person at once make one note for them.
- A contributor, sponsor or main contact named: once per role, with what is theirs now and a
  button to My tasks, in the welcome's thread (a checklist's thread would make them follow it,
  and Slack would notify them of every reminder there).
- An approver named: under each open sign-off request they may now decide, else in the welcome's
  thread (once per request, or once per role).
- A sign-off requested: its approvers, under the request (which names them without pinging).

Notes are posted through the outbox in the channel's order; the parent is found when the post
runs, and a note with nowhere to go is dropped, never posted at the top level. Whom a note
notified is recorded once it landed (`bot.people.notified`), which is also how "once" is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import date

from sqlmodel import Session, col, select

from bot.engagement.checklist import Change
from bot.people import notified
from bot.people.members import lead_of
from bot.people.recipients import for_item
from bot.people.roles import ALL_GATES, approvers_for, role_label, team
from bot.people.sides import CUSTOMER
from bot.services import Services
from bot.slack.gateway import SlackCallFailed
from bot.slack.nudges import LEAD_DM
from bot.slack.publish import checklist_thread
from bot.slack.sending import Thread
from messages import Message
from storage.models import (
    Engagement,
    EngagementPhase,
    Gate,
    Item,
    Member,
    PostedMessage,
    SignoffRequest,
    saved_id,
)

log = logging.getLogger("golive.notes")

NOTE = "note"  # ledger kind of a thread note
TOLD_ABOUT = frozenset({"item.assigned", "item.due"})
MAX_LISTED = 8  # items named in one note; the rest are counted


def name_of(session: Session, engagement_id: int, user_id: str | None) -> str | None:
    """Who did it, by name: a note names the person who acted without pinging them."""
    if not user_id:
        return None
    member = session.exec(
        select(Member).where(Member.engagement_id == engagement_id, Member.user_id == user_id)
    ).first()
    return (member.display_name if member is not None else None) or None


def in_welcome_thread(services: Services, engagement_id: int) -> Callable[[], str | None]:
    """A thread finder for the outbox: the welcome's thread, where people are told of their roles
    (so being named does not make them follow a checklist's thread, whose every reminder Slack
    would then notify them of); the current checklist's when there is no welcome."""

    def find() -> str | None:
        with services.db.read() as session:
            welcome = session.exec(
                select(PostedMessage.ts).where(
                    PostedMessage.engagement_id == engagement_id, PostedMessage.kind == "welcome"
                )
            ).first()
        if welcome:
            return str(welcome)
        found = checklist_thread(services, engagement_id)
        return found[1] if found else None

    return find


def in_checklist_thread(
    services: Services, engagement_id: int, phase_number: int | None = None
) -> Callable[[], str | None]:
    """A thread finder for the outbox: the live checklist of the phase (or the current one)."""

    def find() -> str | None:
        found = checklist_thread(services, engagement_id, phase_number)
        return found[1] if found else None

    return find


def _note(
    services: Services,
    channel: str,
    engagement_id: int,
    *,
    key: str,
    thread_ts: Thread,
    what: str,
    people: list[str],
    by: str | None,
    subjects: Iterable[str] = (),
    **facts: object,
) -> None:
    """Post one work note (`work_note.json.j2`, `what` kind of it) in a thread, once per `key`,
    and record whom it notified once it landed."""
    message = services.renderer.message(
        "work_note.json.j2", what=what, people=people, by=by, command=services.command, **facts
    )
    about = list(subjects) or [key]
    parent: dict[str, str | None] = {"ts": None if callable(thread_ts) else thread_ts}

    def find() -> str | None:  # the thread, found when the post runs; kept for the ledger
        parent["ts"] = thread_ts() if callable(thread_ts) else thread_ts
        return parent["ts"]

    def landed(ts: str) -> None:
        with services.db.session() as session:
            notified.record(
                session,
                engagement_id,
                people,
                kind=NOTE,
                subjects=about,
                now=services.clock.now(),
                reminder=False,
                channel=channel,
                ts=ts,
                thread_ts=parent["ts"],  # they follow that thread now
            )

    services.outbox.post(
        channel,
        message,
        kind=NOTE,
        key=key,
        engagement_id=engagement_id,
        thread_ts=find if callable(thread_ts) else thread_ts,
        then=landed,
    )


def tell_about_change(
    services: Services, engagement_id: int, change: Change | None, actor_id: str | None
) -> None:
    """After an item was assigned or dated: tell its assignee, once, under the checklist."""
    tell_about_changes(services, engagement_id, [change] if change is not None else [], actor_id)


def tell_about_changes(
    services: Services, engagement_id: int, changes: Iterable[Change | None], actor_id: str | None
) -> None:
    """After items were assigned or dated (one command, one form): one note per person told,
    listing all of theirs, under the checklist of the first one's phase."""
    mine: dict[str, list[Change]] = {}
    for change in changes:
        if change is None or change.kind not in TOLD_ABOUT:
            continue
        assignee = change.item.assignee_id
        if assignee and assignee != actor_id:
            mine.setdefault(assignee, []).append(change)
    if not mine:
        return
    with services.db.read() as session:
        engagement = session.get(Engagement, engagement_id)
        if engagement is None or engagement.status != "active":
            return
        channel = engagement.channel_id
        by = name_of(session, engagement_id, actor_id)
    for assignee, told in mine.items():
        first = told[0]
        kinds = {c.kind for c in told}
        what = "due" if kinds == {"item.due"} else "assigned"
        items = [
            {"ref": c.ref, "title": c.item.title, "due": c.item.due_on}
            for c in sorted(told, key=lambda c: (c.phase.number, c.item.number))
        ]
        _note(
            services,
            channel,
            engagement_id,
            key=f"{first.kind}:{','.join(str(c.item.id) for c in told)}"[:120],
            thread_ts=in_checklist_thread(services, engagement_id, first.phase.number),
            what=what,
            people=[assignee],
            by=by,
            subjects=[f"item:{c.item.id}" for c in told],
            items=items[:MAX_LISTED],
            more=max(0, len(items) - MAX_LISTED),
            ref=first.ref,
            title=first.item.title,
            due=first.item.due_on,
        )


def _theirs(session: Session, engagement: Engagement, user: str) -> list[dict[str, object]]:
    """The open items whose reminders go to `user` now (theirs, or their side's nobody took)."""
    rows = team(session, engagement)
    phases = {
        p.id: p.number
        for p in session.exec(select(EngagementPhase).where(EngagementPhase.engagement_id == engagement.id))
    }
    out: list[tuple[date, int, int, dict[str, object]]] = []
    for item in session.exec(select(Item).where(Item.engagement_id == engagement.id, Item.status == "open")):
        if user in for_item(rows, item.owner_side, item.assignee_id).people:
            number = phases.get(item.phase_id, 0)
            out.append(
                (
                    item.due_on or date.max,
                    number,
                    item.number,
                    {"ref": f"{number}.{item.number}", "title": item.title, "due": item.due_on},
                )
            )
    return [row for *_, row in sorted(out, key=lambda r: r[:3])]


def tell_named(
    services: Services, engagement_id: int, user_id: str, role: str, gate_key: str, actor_id: str | None
) -> None:
    """Someone was named to a customer role: tell them once, with what is theirs now."""
    if role == "approver":
        tell_approver(services, engagement_id, user_id, gate_key, actor_id)
        return
    if role not in ("contributor", "sponsor", "main_contact", "it_admin"):
        return
    subject = f"role:{role}"
    with services.db.read() as session:
        engagement = session.get(Engagement, engagement_id)
        if engagement is None or engagement.status != "active":
            return
        if not any(
            r.user_id == user_id and r.role == role and r.side == CUSTOMER for r in team(session, engagement)
        ):
            return  # not (yet) on the customer's side
        if notified.told(session, engagement_id, user_id, subject):
            return
        channel = engagement.channel_id
        by = name_of(session, engagement_id, actor_id)
        theirs = _theirs(session, engagement, user_id) if role not in ("sponsor", "it_admin") else []
        customer = engagement.customer_name
    _note(
        services,
        channel,
        engagement_id,
        key=f"named:{role}:{user_id}",
        thread_ts=in_welcome_thread(services, engagement_id),
        what=role,
        people=[user_id],
        by=by,
        subjects=[subject],
        items=theirs[:MAX_LISTED],
        more=max(0, len(theirs) - MAX_LISTED),
        customer_name=customer,
        role=role_label(role),
    )


def tell_approver(
    services: Services, engagement_id: int, user_id: str, gate_key: str, actor_id: str | None
) -> None:
    """A customer approver was named (for every gate, or one): under each open request they may
    now decide, or, when there is none, under the current phase's checklist."""
    with services.db.read() as session:
        engagement = session.get(Engagement, engagement_id)
        if engagement is None or engagement.status != "active":
            return
        channel = engagement.channel_id
        if not any(a.user_id == user_id for a in approvers_for(session, engagement, gate_key)):
            return  # not (yet) on the customer's side: they cannot approve anything
        gates = {
            g.id: g
            for g in session.exec(select(Gate).where(Gate.engagement_id == engagement_id))
            if gate_key in (ALL_GATES, g.key)
        }
        open_requests = [
            (r, gates[r.gate_id])
            for r in session.exec(
                select(SignoffRequest)
                .where(col(SignoffRequest.gate_id).in_(list(gates)), SignoffRequest.status == "open")
                .order_by(col(SignoffRequest.id))
            )
            if r.ts and not notified.told(session, engagement_id, user_id, f"signoff:{r.id}")
        ]
        only = next(iter(gates.values())).title if gate_key != ALL_GATES and gates else None
        by = name_of(session, engagement_id, actor_id)
        subject = f"role:approver:{gate_key}"
        told_before = notified.told(session, engagement_id, user_id, subject)
        theirs = _theirs(session, engagement, user_id)  # their side's items nobody else is named for
    if open_requests:
        for request, gate in open_requests:
            _note(
                services,
                channel,
                engagement_id,
                key=f"approver:{request.id}",
                thread_ts=request.ts,
                what="approver_request",
                people=[user_id],
                by=by,
                subjects=[f"signoff:{request.id}", subject],
                title=gate.title,
                version=request.version,
            )
        return
    if told_before:
        return
    _note(
        services,
        channel,
        engagement_id,
        key=f"approver:{user_id}",
        thread_ts=in_welcome_thread(services, engagement_id),
        what="approver",
        people=[user_id],
        by=by,
        subjects=[subject],
        title=only,
        items=theirs[:MAX_LISTED],
        more=max(0, len(theirs) - MAX_LISTED),
    )


def tell_approvers_of_request(services: Services, request_id: int, request_ts: str) -> None:
    """A sign-off request landed: mention its approvers once, in its thread."""
    with services.db.read() as session:
        request = session.get(SignoffRequest, request_id)
        gate = session.get(Gate, request.gate_id) if request is not None else None
        engagement = session.get(Engagement, gate.engagement_id) if gate is not None else None
        if request is None or gate is None or engagement is None:
            return
        people = [a.user_id for a in approvers_for(session, engagement, gate.key)]
        phase = session.get(EngagementPhase, gate.phase_id)
        channel, engagement_id = request.channel_id, saved_id(engagement)
        by = name_of(session, saved_id(engagement), request.requested_by)
    if not people:
        return  # the request itself says that no approver is named yet
    _note(
        services,
        channel,
        engagement_id,
        key=f"requested:{request_id}",
        thread_ts=request_ts,
        what="signoff_requested",
        people=people,
        by=by,
        subjects=[f"signoff:{request_id}"],
        title=gate.title,
        version=request.version,
        phase=phase.name if phase else "",
    )


def tell_lead(
    services: Services, engagement_id: int, message: Message, *, key: str, actor_id: str | None = None
) -> None:
    """Tell the lead consultant privately (a direct message) of something asked of them. A mention
    in a customer thread would make them follow it, and Slack would then notify them of every
    reminder posted there. Not when they did it themselves; best effort (logged when refused)."""
    with services.db.read() as session:
        lead = lead_of(session, engagement_id)
    if lead is None or lead.user_id == actor_id:
        return
    try:
        channel, ts = services.slack.dm_recorded(
            lead.user_id, message, kind=LEAD_DM, key=key, engagement_id=engagement_id
        )
    except SlackCallFailed as exc:
        log.warning("could not tell the lead consultant (%s): %s", key, exc.error)
        return
    with services.db.session() as session:
        notified.record(
            session,
            engagement_id,
            [lead.user_id],
            kind=LEAD_DM,
            subjects=[key],
            now=services.clock.now(),
            reminder=False,
            channel=channel,
            ts=ts,
            via="dm",
        )
