"""Roles per engagement: lead and consultants (vendor), approvers, contributors, an executive
sponsor, a main contact and IT admins (customer). Approvers are named for every gate or for one gate. The
main contact is whom reminders go to when nobody else on the customer's side is named for an item;
the customer's own people may name theirs (the implementation team names every other role). The IT admin gives the access
the implementation needs (an allow-list, a database user, single sign-on): the team knows whom to
ask, and a playbook may require one (`required_roles`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from bot.errors import UserError
from bot.people import audit
from bot.people.members import add_member
from bot.people.organisations import pin_customer
from bot.people.sides import CUSTOMER, CUSTOMER_ROLES, VENDOR, Actor, member_side
from storage.models import Engagement, Gate, Member, MemberRole, saved_id

ROLES = ("approver", "contributor", "sponsor", "main_contact", "it_admin", "consultant", "lead")
ALL_GATES = "*"
ONE_PER_ENGAGEMENT = ("lead", "sponsor", "main_contact")  # a new one replaces the old


_LABELS = {"it_admin": "IT admin"}


def role_label(role: str) -> str:
    """`main_contact` → `main contact`, `it_admin` → `IT admin`."""
    return _LABELS.get(role, role.replace("_", " "))


def with_article(role: str) -> str:
    label = role_label(role)
    return f"an {label}" if label[0].lower() in "aeiou" else f"a {label}"


@dataclass(frozen=True)
class RoleRow:
    role_id: int
    user_id: str
    name: str
    side: str
    role: str
    gate_key: str

    @property
    def label(self) -> str:
        return role_label(self.role)


def team(session: Session, engagement: Engagement) -> list[RoleRow]:
    rows = session.exec(
        select(MemberRole, Member)
        .join(Member, col(Member.id) == col(MemberRole.member_id))
        .where(Member.engagement_id == engagement.id)
        .order_by(col(MemberRole.role), col(Member.display_name))
    ).all()
    return [
        RoleRow(
            saved_id(r),
            m.user_id,
            m.display_name or m.user_id,
            member_side(engagement, m),
            r.role,
            r.gate_key,
        )
        for r, m in rows
    ]


def approvers_for(session: Session, engagement: Engagement, gate_key: str) -> list[RoleRow]:
    """Named approvers of a gate who are on the customer's side."""
    return [
        r
        for r in team(session, engagement)
        if r.role == "approver" and r.gate_key in (ALL_GATES, gate_key) and r.side == CUSTOMER
    ]


def people_with(session: Session, engagement: Engagement, role: str) -> list[RoleRow]:
    return [r for r in team(session, engagement) if r.role == role]


def set_role(
    session: Session,
    engagement: Engagement,
    actor: Actor,
    *,
    user_id: str,
    team_id: str | None,
    name: str,
    role: str,
    gate_key: str = ALL_GATES,
    now: datetime,
    enterprise_id: str | None = None,
) -> RoleRow | None:
    """Give someone a role; returns None when they already had it. The implementation team names
    every role; the customer's people may name their main contact."""
    if not actor.is_vendor and not (role == "main_contact" and actor.is_customer):
        raise UserError("Only the implementation team manages roles.")
    if role not in ROLES:
        raise UserError(
            f"`{role[:20]}` is not a role; use approver, contributor, sponsor, main_contact, it_admin "
            "or consultant."
        )
    if gate_key != ALL_GATES:
        if role != "approver":
            raise UserError("Only approvers are named per gate; leave out `gate=` for this role.")
        known = session.exec(select(Gate.key).where(Gate.engagement_id == engagement.id)).all()
        if gate_key not in known:
            raise UserError(
                f"There is no gate `{gate_key[:40]}`; the gates are {', '.join(f'`{k}`' for k in known)}."
            )
    member = add_member(
        session,
        engagement,
        user_id=user_id,
        team_id=team_id,
        display_name=name,
        added_by=actor.user_id,
        now=now,
        enterprise_id=enterprise_id,
    )
    side = member_side(engagement, member)
    if (
        role in CUSTOMER_ROLES
        and not side
        and member.team_id
        and not engagement.customer_team_id
        and not engagement.customer_enterprise_id
    ):
        # The first customer role names the customer's organisation.
        pin_customer(
            session,
            engagement,
            team_id=member.team_id,
            enterprise_id=member.enterprise_id,
            actor=actor,
            how=f"first customer role ({role})",
            now=now,
        )
        side = member_side(engagement, member)
    a_role = with_article(role)
    if role in CUSTOMER_ROLES and side == VENDOR:
        raise UserError(
            f"{name} is on the vendor's side, and {a_role} speaks for the customer: the implementation "
            f"team can never approve on the customer's behalf. If {name} works for the customer, first "
            f"run `side @{name} customer`."
        )
    if role in CUSTOMER_ROLES and side != CUSTOMER:
        why = (
            f"I can't tell which organisation {name} belongs to"
            if not member.team_id
            else f"{name} is from another organisation than the customer's"
        )
        raise UserError(
            f"{why}, and {a_role} speaks for the customer. If they do, first run `side @{name} customer` "
            f"(or `customer @{name}` to make theirs the customer's organisation)."
        )
    if role in ("consultant", "lead") and side != VENDOR:
        raise UserError(f"{name} is not on the implementation team's side; {a_role} is one of the team.")
    existing = session.exec(
        select(MemberRole).where(
            MemberRole.member_id == member.id, MemberRole.role == role, MemberRole.gate_key == gate_key
        )
    ).first()
    if existing is not None:
        return None
    if role in ONE_PER_ENGAGEMENT:  # one of each per engagement: the new one replaces the old
        for old in session.exec(
            select(MemberRole)
            .join(Member, col(Member.id) == col(MemberRole.member_id))
            .where(Member.engagement_id == engagement.id, MemberRole.role == role)
        ).all():
            session.delete(old)
            if role == "lead":
                session.add(MemberRole(member_id=old.member_id, role="consultant"))
    row = MemberRole(member_id=saved_id(member), role=role, gate_key=gate_key)
    session.add(row)
    session.flush()
    audit.record(
        session,
        saved_id(engagement),
        actor,
        "role.added",
        name,
        {"user": user_id, "role": role, "gate": gate_key},
        now=now,
    )
    return RoleRow(saved_id(row), user_id, name, side, role, gate_key)


def remove_role(
    session: Session, engagement: Engagement, actor: Actor, role_id: int, now: datetime
) -> RoleRow:
    if not actor.is_vendor:
        raise UserError("Only the implementation team manages roles.")
    row = session.get(MemberRole, role_id)
    member = session.get(Member, row.member_id) if row else None
    if row is None or member is None or member.engagement_id != engagement.id:
        raise UserError("That role is already gone.")
    if row.role == "lead":
        raise UserError(
            "Every engagement keeps a lead consultant; name a new lead instead of removing this one."
        )
    result = RoleRow(
        saved_id(row),
        member.user_id,
        member.display_name,
        member_side(engagement, member),
        row.role,
        row.gate_key,
    )
    session.delete(row)
    audit.record(
        session,
        engagement.id,
        actor,
        "role.removed",
        member.display_name,
        {"user": member.user_id, "role": row.role, "gate": row.gate_key},
        now=now,
    )
    return result
