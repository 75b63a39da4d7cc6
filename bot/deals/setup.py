"""A deal's channel, made and shared with the customer: the work after a deal is recorded.

Each deal row moves through its `state`, one Slack step at a time, from whichever process takes it
(`run_due`: the sweep's pass, and right after a deal is received); a row is taken with a lease
(its `next_attempt_at` moved forward), so two processes never work on one deal at once, and a
process that dies mid-step leaves it to be taken again when the lease runs out.

1. `channel`: conversations.create with a name from `GOLIVE_CHANNEL_NAME` (`name_taken`: the
   next free `-2`, `-3`…); the engagement is bound to the channel.
2. `team`: conversations.invite of the lead and `GOLIVE_DEAL_TEAM`.
3. `invites`: one conversations.inviteShared per contact (Slack takes one email per call; Tier
   2), full members first (`external_limited=false`), limited when the workspace allows only
   those (`restricted_action`). Then the lead is told privately what was done.
4. `waiting`: until the customer's side joins (`customer_joined`, from member_joined_channel,
   channel_shared or shared_channel_invite_accepted): the engagement becomes active, its welcome
   and first checklist are posted, contacts get their roles as they join. An invitation not
   accepted reminds the lead on business days 3 and 10 after it, with a Re-send button; after
   14 days Slack expires it, and the lead is told with the same button.

Slack's refusals (`not_paid`, `restricted_action`, a channel name it will not take…) leave the
engagement as it is and tell the lead in a direct message what to do; "not now" answers (429,
5xx) are tried again with backoff.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import col, select

from bot.engagement.capacity import over_capacity
from bot.engagement.lifecycle import PREPARING, calendar_for, local_today
from bot.people import audit
from bot.people.roles import set_role
from bot.services import Services
from bot.slack.gateway import SlackCallFailed
from bot.slack.home import refresh_homes
from bot.slack.rosters import read_roster
from bot.slack.uploads import retryable
from messages import Trusted, escape_mrkdwn, fmt
from storage.models import Deal, DealContact, Engagement, saved_id

log = logging.getLogger("golive.deals")

LEASE = timedelta(minutes=2)
BACKOFF_FIRST = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
WAITING_CHECK = timedelta(hours=1)  # how often a deal waiting for the customer is looked at
REMIND_ON_DAYS = (3, 10)  # business days after an invitation with no answer
INVITE_LIFETIME = timedelta(days=14)  # Slack expires a Slack Connect invitation after 14 days
MAX_NAME = 80
WORK_STATES = ("channel", "team", "invites", "waiting")

# Why Slack refused, in words for the lead, and what to do.
REFUSALS: dict[str, str] = {
    "not_paid": "Slack Connect needs a paid Slack plan on the vendor's workspace",
    "restricted_action": "a workspace setting does not let the app send Slack Connect invitations "
    "(Settings → Slack Connect → who may invite people)",
    "not_allowed_for_grid_workspace": "Slack Connect is not enabled for this workspace",
    "invalid_email": "Slack says the email address is not valid",
    "connection_limit_exceeded": "the channel has reached Slack's limit of connected organisations",
    "connection_limit_exceeded_pending": "the channel already has an invitation waiting to be accepted",
    "member_limit_exceeded": "the channel has reached Slack's limit of members",
    "missing_scope": "the app lacks the scopes channels:manage, groups:write and "
    "conversations.connect:write (reinstall it with GOLIVE_CREATE_CHANNELS=true)",
    "restricted_action_create": "a workspace setting does not let the app create channels",
    "invalid_name_specials": "Slack does not take the channel name from GOLIVE_CHANNEL_NAME",
}


def channel_name(template: str, customer: str, attempt: int = 1) -> str:
    """The channel's name: the template with {customer} as Slack takes names (lowercase letters,
    digits, hyphens and underscores, at most 80 characters), `-2`, `-3`… after a taken one."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", customer.lower()).strip("-_") or "customer"
    suffix = f"-{attempt}" if attempt > 1 else ""
    fixed = template.replace("{customer}", "")
    room = max(1, MAX_NAME - len(fixed) - len(suffix))
    name = template.replace("{customer}", slug[:room].strip("-_") or "customer")
    name = re.sub(r"[^a-z0-9_-]+", "-", name.lower())
    return (name[: MAX_NAME - len(suffix)] + suffix).strip("-")


@dataclass
class Step:
    """What a step left: the row's next state, when to look again (None: on an event only), and
    what to tell the lead."""

    state: str
    again_at: datetime | None
    tell: list[str]


def kick(services: Services) -> None:
    """Run the deals' channel work soon, off the caller's thread (a deal just received)."""
    with contextlib.suppress(RuntimeError):  # stopping: the sweep takes it after the restart
        services.after_ack.submit(run_due, services)


def run_due(services: Services, now: datetime | None = None) -> int:
    """Take each deal whose channel work is due and do its next steps. How many were taken."""
    taken = 0
    while (row_id := _claim(services, now or services.clock.now())) is not None:
        taken += 1
        try:
            _work(services, row_id, now or services.clock.now())
        except Exception:
            log.exception("deal row %s: its channel work failed; tried again after its lease", row_id)
    return taken


def _claim(services: Services, now: datetime) -> int | None:
    """One due deal row, leased to this process (its next look moved past the lease)."""
    with services.db.session() as session:
        pick = (
            select(col(Deal.id))
            .where(
                col(Deal.state).in_(WORK_STATES),
                col(Deal.next_attempt_at).is_not(None),
                col(Deal.next_attempt_at) <= now,
            )
            .order_by(col(Deal.next_attempt_at))
            .limit(1)
        )
        if not services.db.is_sqlite:
            pick = pick.with_for_update(skip_locked=True)
        found = session.execute(pick).scalar()
        if found is None:
            return None
        session.execute(
            update(Deal)
            .where(col(Deal.id) == found)
            .values(next_attempt_at=now + LEASE, attempts=Deal.attempts + 1)
        )
        return int(found)


def _work(services: Services, row_id: int, now: datetime) -> None:
    tell: list[str] = []
    while True:
        with services.db.read() as session:
            row = session.get(Deal, row_id)
            engagement = session.get(Engagement, row.engagement_id) if row and row.engagement_id else None
        if row is None or engagement is None or row.state not in WORK_STATES:
            return
        try:
            step = _step(services, row, engagement, now)
        except SlackCallFailed as exc:
            step = _refused(services, row, exc, now)
        tell += step.tell
        # Going straight on to the next step, this process keeps its lease on the row (another
        # process that took it now would do the same step twice); else the row is due when the
        # step says.
        here = (
            step.state != row.state
            and step.state in WORK_STATES
            and step.again_at is not None
            and step.again_at <= now
        )
        with services.db.session() as session:
            session.execute(
                update(Deal)
                .where(col(Deal.id) == row_id)
                .values(
                    state=step.state, next_attempt_at=now + LEASE if here else step.again_at, updated_at=now
                )
            )
        if not here:
            break
    if tell:
        tell_lead(services, row_id, tell)
    if engagement is not None and engagement.id is not None:
        refresh_homes(services, engagement.id)  # the lead's "Deals being set up"


def _step(services: Services, row: Deal, engagement: Engagement, now: datetime) -> Step:
    if row.state == "channel":
        return _create_channel(services, row, engagement, now)
    if row.state == "team":
        return _invite_team(services, row, now)
    if row.state == "invites":
        return _invite_contacts(services, row, engagement, now)
    return _follow_up(services, row, engagement, now)


def _refused(services: Services, row: Deal, exc: SlackCallFailed, now: datetime) -> Step:
    """A Slack call failed: "not now" is tried again with backoff; a refusal stops the work and
    the lead is told what to do (the engagement stays, preparing)."""
    if retryable(exc):
        wait = exc.retry_after or min(
            BACKOFF_MAX.total_seconds(), BACKOFF_FIRST.total_seconds() * 2 ** min(row.attempts, 8)
        )
        log.info("deal %s: %s %s, trying again in %.0f s", row.deal_id, exc.method, exc.error, wait)
        return Step(row.state, now + timedelta(seconds=wait), [])
    key = (
        "restricted_action_create"
        if exc.error == "restricted_action" and row.state == "channel"
        else exc.error
    )
    reason = REFUSALS.get(key, f"Slack answered `{exc.error}` to {exc.method}")
    with services.db.session() as session:
        stored = session.get(Deal, row.id)
        if stored is not None:
            stored.problem = reason[:300]
            session.add(stored)
            if stored.engagement_id is not None:
                audit.record(
                    session,
                    stored.engagement_id,
                    audit.SYSTEM,
                    "deal.channel",
                    row.deal_id,
                    {"refused": exc.error, "method": exc.method},
                    now=now,
                )
    log.warning("deal %s: %s refused (%s)", row.deal_id, exc.method, exc.error)
    return Step(
        "failed",
        None,
        [
            f"I could not {_doing(row.state)}: {reason}.",
            "The engagement is made and waits; once that is fixed, create the channel, invite the customer "
            f"and run `{services.command} start` there — or send the deal again.",
        ],
    )


def _doing(state: str) -> str:
    return {
        "channel": "create the channel",
        "team": "invite the implementation team",
        "invites": "send the Slack Connect invitations",
    }.get(state, "set up the channel")


def _create_channel(services: Services, row: Deal, engagement: Engagement, now: datetime) -> Step:
    settings = services.settings
    for attempt in range(1, 20):
        name = channel_name(settings.golive_channel_name, engagement.customer_name, attempt)
        try:
            channel = services.slack.create_channel(name, private=settings.golive_channel_private)
        except SlackCallFailed as exc:
            if exc.error == "name_taken":
                continue
            raise
        break
    else:
        raise SlackCallFailed("conversations.create", "name_taken")
    channel_id = str(channel["id"])
    with services.db.session() as session:
        stored = session.get(Deal, row.id)
        e = session.get(Engagement, engagement.id)
        assert stored is not None and e is not None
        stored.channel_id, stored.channel_name, stored.problem = channel_id, name, None
        e.channel_id = channel_id
        session.add_all([stored, e])
        audit.record(
            session, saved_id(e), audit.SYSTEM, "deal.channel", name, {"channel": channel_id}, now=now
        )
    log.info("deal %s: channel #%s (%s) made", row.deal_id, name, channel_id)
    return Step("team", now, [])


def _invite_team(services: Services, row: Deal, now: datetime) -> Step:
    assert row.channel_id is not None
    people = list(dict.fromkeys([p for p in [row.lead_user_id, *services.settings.golive_deal_team] if p]))
    if people:
        try:
            services.slack.invite_users(row.channel_id, people)
        except SlackCallFailed as exc:
            if exc.error != "already_in_channel":
                raise
    return Step("invites", now, [])


def _invite_contacts(services: Services, row: Deal, engagement: Engagement, now: datetime) -> Step:
    assert row.channel_id is not None
    with services.db.read() as session:
        todo = list(
            session.exec(
                select(DealContact)
                .where(DealContact.deal_ref == row.id, DealContact.invite_state == "to_invite")
                .order_by(col(DealContact.id))
            ).all()
        )
    heavy = _over_capacity(services, row, engagement)  # before any invitation is sent: the first DM
    sent: list[str] = []
    refused: list[str] = []
    for contact in todo:
        invite_id, error = _send_invite(services, row.channel_id, contact.email)
        with services.db.session() as session:
            c = session.get(DealContact, contact.id)
            assert c is not None
            if error is None:
                c.invite_state, c.invite_id, c.invited_at, c.invite_error = "sent", invite_id, now, None
                sent.append(_who(contact))
            else:
                c.invite_state, c.invite_error = "refused", error[:64]
                refused.append(f"{_who(contact)}: {REFUSALS.get(error, 'Slack answered ' + error)}")
            session.add(c)
    lines = []
    if sent:
        lines.append("Invited to the channel by email: " + ", ".join(sent) + ".")
    if refused:
        lines += [f"Not invited — {r}." for r in refused]
    if not todo:
        lines.append("The deal names no customer contacts: invite them to the channel yourself.")
    lines.append("The welcome and the first checklist follow when the customer's side joins.")
    lines += heavy
    header = fmt(
        "I made {channel} for *{customer}*.",
        channel=Trusted(f"<#{row.channel_id}>"),
        customer=engagement.customer_name,
    )
    return Step("waiting", now + WAITING_CHECK, [header, *lines] if sent or refused or not todo else [])


def _over_capacity(services: Services, row: Deal, engagement: Engagement) -> list[str]:
    """The lead over GOLIVE_CAPACITY with this deal (`bot.engagement.capacity`), for the deal's
    first direct message only: none once an invitation was sent or refused."""
    with services.db.read() as session:
        if session.exec(
            select(DealContact.id).where(
                DealContact.deal_ref == row.id, DealContact.invite_state != "to_invite"
            )
        ).first():
            return []
        heavy = over_capacity(
            session, services.settings.golive_capacity, row.lead_user_id or "", engagement.size
        )
    return ["Worth a look: " + heavy.plain(services.command)] if heavy is not None else []


def _send_invite(services: Services, channel: str, email: str) -> tuple[str | None, str | None]:
    """Send one invitation: a full member's, else (the workspace allows only those) a limited
    one's. (invite id, None) when sent; (None, Slack's error) when refused for good."""
    for limited in (False, True):
        try:
            return services.slack.invite_shared(channel, email, limited=limited), None
        except SlackCallFailed as exc:
            if exc.error == "restricted_action" and not limited:
                continue
            if retryable(exc):
                raise
            return None, exc.error
    return None, "restricted_action"


def _who(contact: DealContact) -> str:
    role = f" ({contact.role.replace('_', ' ')})" if contact.role else ""
    return f"{contact.name or contact.email}{role}"


def _follow_up(services: Services, row: Deal, engagement: Engagement, now: datetime) -> Step:
    """A deal waiting for the customer: remind the lead of invitations with no answer on business
    days 3 and 10, and say when Slack expired one."""
    calendar = calendar_for(engagement)
    today = local_today(now, engagement.timezone)
    lines: list[str] = []
    with services.db.session() as session:
        waiting = session.exec(
            select(DealContact).where(DealContact.deal_ref == row.id, col(DealContact.invite_state) == "sent")
        ).all()
        for c in waiting:
            assert c.invited_at is not None
            if now - c.invited_at >= INVITE_LIFETIME:
                c.invite_state = "expired"
                lines.append(f"The invitation to {_who(c)} expired after 14 days without an answer.")
            else:
                sent_day = local_today(c.invited_at, engagement.timezone)
                # business days after the day it was sent, up to today: Monday's is 3 days old on Thursday
                days = calendar.count(sent_day + timedelta(days=1), today) if today > sent_day else 0
                due = [d for d in REMIND_ON_DAYS if days >= d and c.reminded_day < d]
                if not due:
                    continue
                c.reminded_day = max(due)
                lines.append(f"{_who(c)} has not accepted the invitation sent {days} business days ago.")
            session.add(c)
        pending = any(c.invite_state == "sent" for c in waiting)
    if lines:
        header = fmt(
            "Waiting for *{customer}* to join {channel}.",
            customer=engagement.customer_name,
            channel=Trusted(f"<#{row.channel_id}>"),
        )
        return Step("waiting", now + WAITING_CHECK if pending else None, [header, *lines])
    return Step("waiting", now + WAITING_CHECK if pending else None, [])


def tell_lead(services: Services, row_id: int, lines: list[str]) -> None:
    """The lead's direct message: the first line is its title; invitations that can be sent again
    get a Re-send button."""
    with services.db.read() as session:
        row = session.get(Deal, row_id)
        if row is None or not row.lead_user_id:
            return
        resend = [
            {"id": c.id, "email": c.email}
            for c in session.exec(
                select(DealContact).where(
                    DealContact.deal_ref == row_id,
                    or_(
                        col(DealContact.invite_state).in_(["expired", "refused"]),
                        (col(DealContact.invite_state) == "sent") & (col(DealContact.reminded_day) > 0),
                    ),
                )
            ).all()
        ]
        lead = row.lead_user_id
    title = str(lines[0])
    message = services.renderer.message(
        "deal_dm.json.j2",
        title=_plain(title),
        title_md=Trusted(title) if isinstance(lines[0], Trusted) else escape_mrkdwn(title),
        lines=[str(x) for x in lines[1:]],
        resend=resend if row.channel_id else [],
        hint=f"Deal {row.deal_id}. Only you see this.",
    )
    try:
        services.slack.dm(lead, message)
    except SlackCallFailed as exc:
        log.warning("deal %s: could not tell the lead %s (%s)", row.deal_id, lead, exc.error)


def _plain(mrkdwn: str) -> str:
    """A notification's text from mrkdwn: no markup, no escapes (the renderer escapes it again)."""
    text = re.sub(r"<#(C[A-Z0-9]+)>", "the channel", mrkdwn)
    return text.replace("*", "").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")


# -- the customer joins -------------------------------------------------------------------------
def deal_in_channel(services: Services, channel: str) -> Deal | None:
    """The deal whose channel this is, while it waits for the customer (or is set up)."""
    with services.db.read() as session:
        return session.exec(
            select(Deal).where(
                Deal.channel_id == channel, col(Deal.state).in_(["team", "invites", "waiting", "joined"])
            )
        ).first()


def invite_answered(
    services: Services, invite_id: str, *, state: str, user: str | None, email: str | None
) -> Deal | None:
    """An invitation accepted (waiting for an admin's approval when `state` is accepted), approved
    or declined: the contact's state; their Slack id once known."""
    with services.db.session() as session:
        contact = session.exec(select(DealContact).where(DealContact.invite_id == invite_id)).first()
        if contact is None and email:
            contact = session.exec(
                select(DealContact).where(
                    DealContact.email == email.lower(), col(DealContact.invite_state) == "sent"
                )
            ).first()
        if contact is None:
            return None
        if contact.invite_state != "joined":
            contact.invite_state = state
        if user:
            contact.user_id = user
        session.add(contact)
        return session.get(Deal, contact.deal_ref)


def customer_joined(services: Services, row_id: int, user: str, team: str | None, now: datetime) -> bool:
    """Someone of the customer's side joined the deal's channel: the first one makes the engagement
    active (its welcome and first checklist are posted: returns True); each contact gets the role
    the deal gave them."""
    from bot.slack.project_page import refresh_project_page
    from bot.slack.publish import post_checklist, welcome_message

    with services.db.read() as session:
        known = session.exec(
            select(DealContact.id).where(DealContact.deal_ref == row_id, DealContact.user_id == user)
        ).first()
    email = None if known is not None else services.slack.user_email(user)  # before any transaction
    with services.db.session() as session:
        row = session.get(Deal, row_id)
        if row is None or row.engagement_id is None or row.channel_id is None:
            return False
        engagement = session.get(Engagement, row.engagement_id)
        if engagement is None:
            return False
        first = engagement.status == PREPARING
        if first:
            engagement.status = "active"
            engagement.customer_team_id = engagement.customer_team_id or team
            engagement.updated_at = now
            session.add(engagement)
            audit.record(
                session,
                saved_id(engagement),
                audit.SYSTEM,
                "deal.invites",
                row.deal_id,
                {"joined": user},
                now=now,
            )
        contact = _contact_of(session, row_id, user, email)
        if contact is not None:
            contact.invite_state = "joined"
            session.add(contact)
            session.flush()
            if contact.role:
                set_role(
                    session,
                    engagement,
                    audit.SYSTEM,
                    user_id=user,
                    team_id=team,
                    name=contact.name or contact.email,
                    role=contact.role,
                    now=now,
                )
        if row.state in ("waiting", "joined"):
            row.state = "waiting" if _still_invited(session, row_id) else "joined"
            row.next_attempt_at = now if row.state == "waiting" else None
            session.add(row)
        message = welcome_message(services, session, engagement, now) if first else None
        channel, engagement_id, phase = row.channel_id, saved_id(engagement), engagement.phase_index
    if message is not None:
        # Who is in the channel: App Home shows the engagement to the vendor's people in it.
        read_roster(services, channel)
        services.outbox.post(
            channel,
            message,
            kind="welcome",
            key="welcome",
            engagement_id=engagement_id,
            then=lambda _ts: post_checklist(services, engagement_id, phase),
        )
        refresh_project_page(services, engagement_id)  # issue 28: the page, once the engagement starts
    return first


def _contact_of(session: Any, row_id: int, user: str, email: str | None) -> DealContact | None:
    """The deal's contact who joined as `user`: known by their Slack id once their invitation's
    answer was recorded (the events may be handled in either order), else by the email Slack
    shows for them, else the one contact who accepted and is not placed yet."""
    contacts = list(session.exec(select(DealContact).where(DealContact.deal_ref == row_id)).all())
    for c in contacts:
        if c.user_id == user:
            return c
    for c in contacts:
        if email and c.email == email and c.user_id is None:
            c.user_id = user
            return c
    answered = [c for c in contacts if c.user_id is None and c.invite_state in ("accepted", "approved")]
    if len(answered) == 1:
        answered[0].user_id = user
        return answered[0]
    return None


def _still_invited(session: Any, row_id: int) -> bool:
    return (
        session.exec(
            select(DealContact.id).where(
                DealContact.deal_ref == row_id, col(DealContact.invite_state) == "sent"
            )
        ).first()
        is not None
    )


def resend(services: Services, contact_id: int) -> tuple[bool, str | None]:
    """Send a contact's invitation again (the lead's Re-send): (True, None) when Slack sent it,
    else (False, why in words)."""
    now = services.clock.now()
    with services.db.read() as session:
        contact = session.get(DealContact, contact_id)
        row = session.get(Deal, contact.deal_ref) if contact is not None else None
    if contact is None or row is None or row.channel_id is None:
        return False, "the invitation is no longer known"
    try:
        invite_id, error = _send_invite(services, row.channel_id, contact.email)
    except SlackCallFailed as exc:
        return False, f"Slack is busy ({exc.error}); try again in a minute"
    with services.db.session() as session:
        c = session.get(DealContact, contact_id)
        stored = session.get(Deal, contact.deal_ref)
        if c is None or stored is None:
            return False, "the invitation is no longer known"
        if error is not None:
            c.invite_state, c.invite_error = "refused", error[:64]
        else:
            c.invite_state, c.invite_id, c.invited_at = "sent", invite_id, now
            c.invite_error, c.reminded_day = None, 0
            if stored.state in ("waiting", "joined", "failed"):
                stored.state, stored.next_attempt_at = "waiting", now + WAITING_CHECK
                session.add(stored)
        session.add(c)
    if error is not None:
        return False, REFUSALS.get(error, f"Slack answered {error}")
    return True, None
