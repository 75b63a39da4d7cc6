"""A deal received: recorded once per deal id, with its engagement, however often the CRM sends it.

`receive` is what `POST /hooks/deal`, the CRM adapters and `golive deal FILE.json` call. The first
time a deal id is seen it makes the engagement (with its plan, checklist items and gates, as
`/golive start` does) in status `preparing`, the deal row and one row per customer contact, in one
transaction; the channel work follows (`bot.deals.setup`). A deal sent again (CRMs retry for days)
changes nothing; a deal that changed updates what has not started: the dates and size re-plan an
engagement still preparing, new contacts are invited, a contact's role changes until they joined.
Two deliveries of one new deal at the same moment make one engagement: the deal id is unique,
and the loser of the race reads the winner's row.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from bot.deals.deal import Deal as DealDoc
from bot.deals.deal import DealProblem
from bot.engagement.capacity import over_capacity
from bot.engagement.lifecycle import PREPARING, build_start_options, rebuild_plan, start_engagement
from bot.engagement.playbook import Playbook
from bot.engagement.rules import playbook_for_deal
from bot.people import audit
from bot.services import Services
from bot.slack.gateway import SlackCallFailed
from bot.user_input import ValueProblem
from storage.models import (
    Deal,
    DealContact,
    Engagement,
    EngagementPhase,
    Gate,
    Item,
    ItemDependency,
    Reminder,
    saved_id,
)

log = logging.getLogger("golive.deals")

PENDING_CHANNEL = "pending:"  # an engagement's channel_id until its channel exists: pending:<deal row>
CHANGEABLE = ("size", "kickoff", "target", "timezone", "country", "pilot", "ingest")


class LeadUnknown(DealProblem):
    """The deal's owner is nobody golive can find in the vendor's workspace."""


@dataclass
class Received:
    """What became of a deal: `created`, `updated` (what changed, in `changes`) or `unchanged`."""

    deal_id: str
    engagement_id: int
    outcome: str
    changes: list[str] = field(default_factory=list)
    # Allowed but worth the CRM's notice: the lead over GOLIVE_CAPACITY with this deal.
    warnings: list[str] = field(default_factory=list)

    def answer(self) -> dict[str, Any]:
        return {
            "ok": True,
            "deal_id": self.deal_id,
            "engagement_id": self.engagement_id,
            "outcome": self.outcome,
            "changes": self.changes,
            "warnings": self.warnings,
        }


@dataclass(frozen=True)
class Who:
    """What Slack says about the lead and the vendor's workspace, asked before the transaction."""

    lead: str
    lead_name: str
    team: str
    enterprise: str | None


def resolve_lead(services: Services, deal: DealDoc) -> str:
    """The lead consultant's Slack id: the owner's id, or the vendor's user with the owner's email."""
    if deal.owner.slack_id:
        return deal.owner.slack_id
    assert deal.owner.email is not None  # parse_deal requires one of the two
    try:
        found = services.slack.user_by_email(deal.owner.email)
    except SlackCallFailed as exc:
        raise LeadUnknown(
            f"`owner.email` could not be looked up in Slack ({exc.error}); send owner.slack_id instead."
        ) from None
    if found is None:
        raise LeadUnknown(
            f"`owner.email` {deal.owner.email} is nobody in the vendor's Slack workspace; "
            "send the lead's Slack id as owner.slack_id, or their Slack email."
        )
    return found


def receive(services: Services, deal: DealDoc, *, source: str, now: datetime | None = None) -> Received:
    """Record the deal (see the module docstring). Raises DealProblem for a deal whose dates, time
    zone or country cannot make an engagement, or whose owner cannot be found; nothing is
    written then."""
    now = now or services.clock.now()
    with services.db.read() as session:
        known = session.exec(select(Deal).where(Deal.deal_id == deal.deal_id)).first()
    if known is not None and known.engagement_id is not None:
        return _again(services, known, deal, now)
    lead = resolve_lead(services, deal)
    key, playbook = playbook_for_deal(deal.all_fields(), services.playbooks, services.playbook)
    options = _options(services, deal, now, playbook)
    # Slack is asked before the transaction (no Slack call inside a write transaction).
    who = Who(
        lead=lead,
        lead_name=_lead_name(services, lead),
        team=services.slack.install_team(),
        enterprise=services.slack.install_enterprise(),
    )
    try:
        with services.db.session() as session:
            return _create(
                services, session, deal, options, who=who, source=source, now=now, chosen=(key, playbook)
            )
    except IntegrityError:  # the same new deal delivered twice at once: the other one made it
        with services.db.read() as session:
            known = session.exec(select(Deal).where(Deal.deal_id == deal.deal_id)).first()
        if known is None or known.engagement_id is None:
            raise
        return _again(services, known, deal, now)


def _options(services: Services, deal: DealDoc, now: datetime, playbook: Playbook) -> Any:
    try:
        return build_start_options(
            name=deal.customer.name,
            size=deal.size,
            kickoff=deal.kickoff,
            target=deal.target,
            tz=deal.timezone,
            country=deal.country,
            pilot="yes" if deal.pilot else None,
            ingest=deal.ingest,
            now=now,
            default_tz=services.settings.golive_default_timezone,
            playbook=playbook,
        )
    except ValueProblem as exc:
        raise DealProblem(str(exc)) from None


def _lead_name(services: Services, user_id: str) -> str:
    try:
        return services.slack.profile(user_id).name
    except SlackCallFailed:
        return user_id


def _create(
    services: Services,
    session: Session,
    deal: DealDoc,
    options: Any,
    *,
    who: Who,
    source: str,
    now: datetime,
    chosen: tuple[str | None, Playbook],
) -> Received:
    """The deal's rows and its engagement, started with the playbook its fields chose (`chosen`:
    its key, None for the default, and the playbook)."""
    row = Deal(
        deal_id=deal.deal_id,
        source=source,
        payload=deal.to_json(),
        lead_user_id=who.lead,
        state="channel",
        received_at=now,
        updated_at=now,
        next_attempt_at=now,
    )
    session.add(row)
    session.flush()  # a second delivery racing this one fails here, on the unique deal id
    key, playbook = chosen
    engagement = start_engagement(
        session,
        options,
        playbook=playbook,
        team_id=who.team,
        channel_id=f"{PENDING_CHANNEL}{saved_id(row)}",
        user_id=who.lead,
        user_name=who.lead_name,
        now=now,
        vendor_enterprise_id=who.enterprise,
        status=PREPARING,
        fields=json.dumps(deal.all_fields(), default=str),
    )
    engagement.playbook = key
    session.add(engagement)
    row.engagement_id = saved_id(engagement)
    session.add(row)
    for contact in deal.contacts_by_email().values():
        session.add(
            DealContact(deal_ref=saved_id(row), email=contact.email, name=contact.name, role=contact.role)
        )
    audit.record(
        session,
        saved_id(engagement),
        audit.SYSTEM,
        "deal.received",
        deal.deal_id,
        {"source": source, "contacts": len(deal.contacts)},
        now=now,
    )
    log.info("deal %s (%s): engagement %s made, preparing its channel", deal.deal_id, source, engagement.id)
    # The preparing engagement counts (`bot.engagement.capacity`); the lead hears it in the first
    # direct message of the channel work (`setup._invite_contacts`).
    heavy = over_capacity(session, services.settings.golive_capacity, who.lead, engagement.size)
    warnings = [heavy.plain(services.command)] if heavy is not None else []
    return Received(deal.deal_id, saved_id(engagement), "created", warnings=warnings)


def _again(services: Services, known: Deal, deal: DealDoc, now: datetime) -> Received:
    """A deal seen before: the same one changes nothing; a changed one updates what has not
    started."""
    assert known.engagement_id is not None
    before = DealDoc.model_validate_json(known.payload)
    if before.model_dump() == deal.model_dump():
        return Received(deal.deal_id, known.engagement_id, "unchanged")
    changes: list[str] = []
    with services.db.session() as session:
        row = session.get(Deal, known.id)
        engagement = session.get(Engagement, known.engagement_id)
        assert row is not None and engagement is not None
        changes += _contacts_changed(session, row, deal, now)
        plan_changed = [k for k in CHANGEABLE if getattr(before, k) != getattr(deal, k)]
        if deal.all_fields() != before.all_fields() and "fields" not in plan_changed:
            plan_changed.append("fields")  # the playbook and its conditional items may change
        if plan_changed and engagement.status == PREPARING:
            _replan(services, session, engagement, deal, now)
            changes += plan_changed
        elif plan_changed:
            changes.append("plan not changed: the engagement has started; change it with /golive settings")
        row.payload = deal.to_json()
        row.updated_at = now
        session.add(row)
        session.add(engagement)
        audit.record(
            session,
            saved_id(engagement),
            audit.SYSTEM,
            "deal.updated",
            deal.deal_id,
            {"changes": changes},
            now=now,
        )
    log.info("deal %s again: %s", deal.deal_id, ", ".join(changes) or "nothing golive keeps changed")
    return Received(deal.deal_id, known.engagement_id, "updated", changes)


def _contacts_changed(session: Session, row: Deal, deal: DealDoc, now: datetime) -> list[str]:
    """New contacts are added (and invited by the channel work); a role changes until its holder
    joined. A contact the CRM dropped is kept: an invitation sent cannot be taken back."""
    changes: list[str] = []
    have = {c.email: c for c in session.exec(select(DealContact).where(DealContact.deal_ref == row.id)).all()}
    for email, contact in deal.contacts_by_email().items():
        mine = have.get(email)
        if mine is None:
            session.add(
                DealContact(deal_ref=saved_id(row), email=email, name=contact.name, role=contact.role)
            )
            changes.append(f"contact added: {email}")
            if row.state in ("waiting", "joined"):
                row.state = "invites"  # the channel work sends the new invitation now
                row.next_attempt_at = now
        elif mine.role != contact.role and mine.user_id is None:
            mine.role = contact.role
            session.add(mine)
            changes.append(f"role of {email}: {contact.role}")
    return changes


def _replan(
    services: Services, session: Session, engagement: Engagement, deal: DealDoc, now: datetime
) -> None:
    """Make the preparing engagement again from the changed deal: nothing of it has happened yet
    (nobody could act in a channel the customer has not joined)."""
    key, playbook = playbook_for_deal(deal.all_fields(), services.playbooks, services.playbook)
    options = _options(services, deal, now, playbook)
    engagement_id = saved_id(engagement)
    engagement.playbook = key
    engagement.fields = json.dumps(deal.all_fields(), default=str)
    for model in (ItemDependency, Item, Gate, Reminder, EngagementPhase):
        session.execute(delete(model).where(col(model.engagement_id) == engagement_id))
    for name in ("size", "timezone", "country", "pilot", "ingest"):
        setattr(engagement, name, getattr(options, name))
    engagement.kickoff_on = options.kickoff
    engagement.target_on = options.target
    engagement.updated_at = now
    rebuild_plan(session, engagement, playbook, now)
