"""The App Home tab: the consultant's portfolio, riskiest engagement first.

- **Mine** lists the active engagements on which the viewer is lead or consultant; **All
  engagements** every active one whose channel they are in (admins: all of them). Both are
  paginated (`PER_PAGE` cards of at most `CARD_BLOCKS` blocks, so a page stays far below Slack's
  100 blocks a Home holds): a portfolio of any size is shown, never refused. The count and the
  order come from the database, and only the page's cards are computed
  (`bot.engagement.portfolio.portfolio_page`).
- Each card: phase and progress, health and its main reason, the forecast go-live against the
  target, blocked items, sign-offs waiting and for how long, the viewer's own overdue items, the
  customer's ratings of the milestones (median, how many low, the latest low one: scores only,
  never who gave them), and buttons (checklist, request the ready sign-off, settings, timeline).
- Only the vendor's people get a portfolio. Anyone else (a customer's user, in Slack Connect) gets
  a short note that tells them where their work is: the buttons on the channel's messages.
- Who opened Home, and what they were looking at, is a `HomeViewer` row. When an engagement
  changes, `refresh_homes` queues a re-publish of the Home of those viewers it concerns (its
  lead and consultants, and those looking at all engagements who see it) — in the outbox, after
  the ack, coalesced per person and paced to views.publish's limit.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, union
from sqlmodel import col, select, update

from bot.engagement import ratings
from bot.engagement.capacity import SIZE_WEIGHTS, team_loads
from bot.engagement.portfolio import ALL, MINE, VIEWS, Card, portfolio_page
from bot.people.activity import customer_active_since
from bot.people.sides import VENDOR_ROLES
from bot.services import Services
from bot.slack.gateway import HASH_CONFLICT, SlackCallFailed
from bot.slack.presenters import gate_rows, health_data
from bot.slack.project_page import refresh_project_page
from bot.slack.rosters import admin_ids
from bot.slack.sending import SETTLE_SECONDS, Job, Retry, Sending
from messages import Trusted
from storage.models import ChannelMember, Deal, DealContact, Engagement, HomeViewer, Member, MemberRole

log = logging.getLogger("golive.home")

PER_PAGE = 12
CARD_BLOCKS = 5  # section, context, details, actions, divider
LIST_MAX = 3  # blocked items, waiting sign-offs, overdue items named per card ("and 2 more")
NOTE_MAX = 300
# Someone who has not opened Home for this long is no longer kept up to date there (Slack renders
# their Home afresh when they open it: app_home_opened): their rows cost nothing after a holiday
# or a move to other work.
KEEP_FRESH_DAYS = 30
# A publish refused (`hash_conflict`) for a Home whose new hash no process has stored yet waits this
# long, once, for the publisher that landed it to store it, before publishing without a hash.
HASH_SETTLE = 0.5
PUBLISH_TRIES = 3  # publishes in one run, each with a newer hash, before it backs off


def is_vendor_user(
    team_id: str | None, enterprise_id: str | None, *, install_team: str, install_enterprise: str | None
) -> bool:
    """Of the vendor's organisation: the installing workspace, or (Enterprise Grid) its org. A
    user whose organisation cannot be told is not."""
    if team_id and team_id == install_team:
        return True
    return bool(install_enterprise) and (enterprise_id == install_enterprise or team_id == install_enterprise)


def viewer_state(services: Services, user_id: str) -> HomeViewer | None:
    with services.db.read() as session:
        return session.get(HomeViewer, user_id)


def remember_viewer(
    services: Services,
    user_id: str,
    *,
    view: str | None = None,
    page: int | None = None,
    note: str | None = None,
    opened: bool = False,
) -> HomeViewer:
    """Record what the viewer looks at now. `opened` (app_home_opened) clears the last note; a
    `note` is mrkdwn built with `messages.fmt` (user text in it escaped), "" clears it."""
    now = services.clock.now()
    with services.db.session() as session:
        row = session.get(HomeViewer, user_id)
        if row is None:
            row = HomeViewer(user_id=user_id, opened_at=now)
        if view in VIEWS:
            row.view, row.page = view, 1
        if page is not None:
            row.page = max(1, page)
        if opened:
            row.opened_at, row.note = now, None
        if note is not None:
            row.note = note[:NOTE_MAX]
        session.add(row)
        session.flush()
        session.expunge(row)
    return row


def _card_data(session: Any, card: Card, viewer: str) -> dict[str, Any]:
    e, fc = card.engagement, card.outlook.forecast
    phase = card.current_phase
    gates = (
        gate_rows(session, phase, complete=card.current_phase_complete, tz=e.timezone)
        if phase is not None
        else []
    )
    ready = next((g for g in gates if g["can_request"]), None)
    return {
        "id": e.id,
        "customer_name": e.customer_name,
        "channel": e.channel_id,
        "phase_number": phase.number if phase else 0,
        "phase_name": phase.name if phase else "",
        "phases": len(card.phases),
        "done": card.done,
        "na": card.na,
        "total": card.applicable,
        # When the forecast is the health's reason, the reason already says it (with why): the
        # card does not say the forecast a second time on its own line.
        "health": health_data(card.outlook.health)
        | {"forecast_is_reason": card.outlook.health.reason == card.outlook.health.headline},
        "golive": fc.golive,
        "target": fc.planned_golive,
        "has_target": fc.has_target,
        "slip": fc.slip,
        "blocked": [{"ref": ref, "title": i.title} for ref, i in card.blocked[:LIST_MAX]],
        "blocked_more": max(0, len(card.blocked) - LIST_MAX),
        "waiting": [{"gate": w.gate, "days": w.business_days} for w in card.waiting[:LIST_MAX]],
        "waiting_more": max(0, len(card.waiting) - LIST_MAX),
        "changes": card.changes[:LIST_MAX],
        "mine_overdue": [
            {"ref": ref, "title": i.title, "due": i.due_on} for ref, i in card.mine_overdue[:LIST_MAX]
        ],
        "mine_more": max(0, len(card.mine_overdue) - LIST_MAX),
        "signoff": {"id": ready["id"], "title": ready["title"]} if ready else None,
    }


PREPARING_SHOWN = 10
# Consultants named in "Team load", heaviest first ("and 12 more"): fifteen lines stay far within
# a section's 3,000 characters.
LOAD_SHOWN = 15


def _team_load(session: Any, capacity: int | None) -> dict[str, Any]:
    """Each consultant's active engagements and weighted load (`bot.engagement.capacity`: one
    GROUP BY), the heaviest `LOAD_SHOWN`, and who is over `GOLIVE_CAPACITY`."""
    loads = team_loads(session)
    return {
        "rows": [
            {
                "user": x.user_id,
                "name": x.name,
                "engagements": x.engagements,
                "units": x.units,
                "over": capacity is not None and x.units > capacity,
            }
            for x in loads[:LOAD_SHOWN]
        ],
        "more": max(0, len(loads) - LOAD_SHOWN),
        "over": sum(1 for x in loads if capacity is not None and x.units > capacity),
        "capacity": capacity,
        "weights": SIZE_WEIGHTS,
    }


def _preparing(session: Any, viewer: str, *, admin: bool) -> list[dict[str, Any]]:
    """The deals won in the CRM whose engagement waits for the customer to join its channel
    (`bot.deals`): the viewer's as lead, every one for an admin; newest first. Each says how far
    its channel has come, and what Slack refused."""
    query = (
        select(Deal, Engagement)
        .join(Engagement, col(Engagement.id) == col(Deal.engagement_id))
        .where(col(Engagement.status) == "preparing")
        .order_by(col(Deal.id).desc())
        .limit(PREPARING_SHOWN)
    )
    if not admin:
        query = query.where(col(Deal.lead_user_id) == viewer)
    found = session.exec(query).all()
    contacts: dict[int, list[DealContact]] = {}
    ids = [d.id for d, _e in found]
    if ids:
        for c in session.exec(select(DealContact).where(col(DealContact.deal_ref).in_(ids))).all():
            contacts.setdefault(c.deal_ref, []).append(c)
    shown = []
    for deal, engagement in found:
        mine = contacts.get(deal.id or 0, [])
        shown.append(
            {
                "id": engagement.id,
                "customer_name": engagement.customer_name,
                "deal_id": deal.deal_id,
                "channel": deal.channel_id,
                "invited": sum(
                    1 for c in mine if c.invite_state in ("sent", "accepted", "approved", "joined")
                ),
                "accepted": sum(1 for c in mine if c.invite_state in ("accepted", "approved", "joined")),
                "refused": sum(1 for c in mine if c.invite_state in ("refused", "expired", "declined")),
                "contacts": len(mine),
                "problem": deal.problem if deal.state == "failed" else None,
            }
        )
    return shown


def home_view(services: Services, user_id: str, *, vendor: bool = True) -> dict[str, Any]:
    """The Home tab of `user_id` as their `HomeViewer` row says (their engagements, page 1 when
    there is none). `vendor=False`: the note for someone who is not of the vendor's side."""
    if not vendor:
        return services.renderer.view("home.json.j2", outsider=True, guest=False, command=services.command)
    profile = services.slack.cached_profile(user_id)
    if profile is not None and profile.is_guest:
        return services.renderer.view("home.json.j2", guest=True, command=services.command)
    admin = user_id in admin_ids(services)
    state = viewer_state(services, user_id)
    view = state.view if state is not None and state.view in VIEWS else MINE
    wanted = state.page if state is not None else 1
    now = services.clock.now()
    with services.db.read() as session:
        # The count and the page's order come from the database; only the page's cards are
        # loaded (see bot.engagement.portfolio): Home costs the same at 10 or 10,000 engagements.
        shown = portfolio_page(
            session,
            services.playbook,
            now,
            playbooks=services.playbooks,
            viewer=user_id,
            view=view,
            admin=admin,
            page=wanted,
            per_page=PER_PAGE,
        )
        rows = [_card_data(session, c, user_id) for c in shown.cards]
        # customer people active in the last 7 days: one query for the page's cards
        active = customer_active_since(session, [c.engagement for c in shown.cards], now - timedelta(days=7))
        # the customer's ratings of the milestones (vendor's Home only): one query for the page
        rated = ratings.summaries(session, [r["id"] for r in rows])
        for row in rows:
            row["customer_active"] = active.get(row["id"], 0)
            summary = rated.get(row["id"])
            row["ratings"] = (
                {
                    "median": f"{summary.median:g}",
                    "count": summary.count,
                    "low": summary.low,
                    "latest_low": summary.latest_low,
                }
                if summary is not None
                else None
            )
        preparing = _preparing(session, user_id, admin=admin)
        # The team's load: for admins on either view, for everyone looking at all engagements.
        load = _team_load(session, services.settings.golive_capacity) if admin or view == ALL else None
    return services.renderer.view(
        "home.json.j2",
        outsider=False,
        guest=False,
        admin=admin,
        view=view,
        cards=rows,
        preparing=preparing,
        load=load,
        count=shown.count,
        page=shown.page,
        pages=shown.pages,
        note=Trusted(state.note) if state is not None and state.note else None,
        command=services.command,
    )


def publish_home(
    services: Services, user_id: str, *, vendor: bool = True, seen_hash: str | None = None
) -> None:
    """Queue a publish of the user's Home (see `HomeJob`). Listeners call it after their ack;
    `seen_hash` is the Home's hash as their click or `app_home_opened` event showed it.

    Every publish of a person's Home goes through this one queue, also those of their own clicks:
    two publishes rendered in different threads could land in the wrong order and show an older
    state (a note written after a change-driven refresh had rendered). One key per person makes
    them run one after the other, each rendering the database as it is then."""
    services.outbox.submit(HomeJob(services, user_id, vendor=vendor, seen_hash=seen_hash))


class HomeJob(Job):
    """Publish one person's Home, rendered when it runs. Coalesced per person: a burst of
    changes is one publish running and one waiting (the newest wins).

    Never an older Home over a newer one, whichever process publishes: the publish sends the hash
    of the Home it replaces, read before rendering — the last publish's answer, which every
    process reads in `HomeViewer.view_hash`, or else the one the person's click showed
    (`seen_hash`). When another publish landed since (another replica's, or one whose answer was
    lost and is retried), Slack refuses it (`hash_conflict`): the job reads the hash and the
    database again and publishes the newest state. When no process knows the new hash (its
    publisher died before storing it, or never heard Slack's answer), the job waits HASH_SETTLE
    once for it to be stored, then publishes without one: rendered after the refusal, its Home is
    newer than the one it replaces."""

    def __init__(
        self, services: Services, user_id: str, *, vendor: bool = True, seen_hash: str | None = None
    ) -> None:
        self.services, self.user_id, self.vendor, self.seen_hash = services, user_id, vendor, seen_hash
        self.key = ("home", user_id)
        self.settle = SETTLE_SECONDS
        self.refused: set[str] = set()  # hashes Slack refused for this Home: it never has them again
        self.waited = False

    def merge(self, newer: Job) -> Job:
        assert isinstance(newer, HomeJob)
        newer.refused |= self.refused
        newer.waited = newer.waited or self.waited
        newer.seen_hash = newer.seen_hash or self.seen_hash
        return newer

    def run(self, out: Sending) -> None:
        for _ in range(PUBLISH_TRIES):
            stored = home_hash(self.services, self.user_id)
            known = [h for h in (stored, self.seen_hash) if h]
            send = next((h for h in known if h not in self.refused), None)
            if known and send is None:  # Slack refused every hash known for this Home
                if not self.waited:
                    self.waited = True
                    raise Retry(HASH_SETTLE, "views.publish hash_conflict: waiting for the Home's new hash")
                log.info(
                    "the Home of %s changed and no process knows its hash: published over it", self.user_id
                )
            try:
                new = out.publish_home(
                    self.user_id,
                    lambda: home_view(self.services, self.user_id, vendor=self.vendor),
                    view_hash=send,
                )
            except SlackCallFailed as exc:
                if exc.error != HASH_CONFLICT or send is None:
                    raise
                self.refused.add(send)
                log.info(
                    "the Home of %s changed since its hash was read; publishing the newest", self.user_id
                )
                continue
            keep_hash(self.services, self.user_id, read=stored, new=new)
            return
        raise Retry(None, "views.publish: the Home kept changing")

    def describe(self) -> str:
        return f"publish the Home of {self.user_id}"


class HomesJob(Job):
    """An engagement changed: find whose Home shows it, and queue theirs. Runs in the outbox, so
    the listener that made the change only queues this.

    Always held for SETTLE_SECONDS, not only while one runs: finding the viewers is one quick
    read, so a burst of clicks found none running and ran it once per click (py-spy: 11% of
    the serve process's CPU under 10 clients setting due dates). Held, the burst is one run."""

    def __init__(self, services: Services, engagement_id: int, also: frozenset[str] = frozenset()) -> None:
        self.services, self.engagement_id, self.also = services, engagement_id, also
        self.key = ("homes", engagement_id)
        self.settle = SETTLE_SECONDS
        self.gather = SETTLE_SECONDS

    def merge(self, newer: Job) -> Job:
        assert isinstance(newer, HomesJob)
        return HomesJob(self.services, self.engagement_id, self.also | newer.also)

    def run(self, out: Sending) -> None:
        # `also`: people no longer on the team (a role removed) no longer see it: their Home shows
        # that now rather than at their next change, when they have opened Home.
        for user_id in viewers_of(self.services, self.engagement_id, also=self.also):
            out.submit(HomeJob(self.services, user_id))  # vendor's people only: see remember_viewer

    def describe(self) -> str:
        return f"find the Homes showing engagement {self.engagement_id}"


def home_hash(services: Services, user_id: str) -> str | None:
    """The hash of the Home last published to `user_id`, as stored (None: unknown)."""
    with services.db.rows() as conn:
        return conn.execute(_HASH, {"user": user_id}).scalar()


_HASH = select(col(HomeViewer.view_hash)).where(col(HomeViewer.user_id) == bindparam("user"))


def keep_hash(services: Services, user_id: str, *, read: str | None, new: str) -> None:
    """Store the hash of the Home just published in place of the one read before publishing, not
    over one another process stored meanwhile (compare and set: a late writer never puts an older
    hash back)."""
    if not new:
        return
    was = col(HomeViewer.view_hash).is_(None) if read is None else col(HomeViewer.view_hash) == read
    with services.db.session() as session:
        session.execute(
            update(HomeViewer).where(col(HomeViewer.user_id) == user_id, was).values(view_hash=new)
        )


def viewers_of(services: Services, engagement_id: int, also: Collection[str] = ()) -> list[str]:
    """People who opened Home in the last KEEP_FRESH_DAYS and see this engagement there (its lead
    and consultants, and whoever looks at all engagements and is in its channel or an admin), and
    those of `also` who opened it."""
    params = {
        "engagement": engagement_id,
        "also": list(also),
        "admins": sorted(admin_ids(services)),
        "since": services.clock.now() - timedelta(days=KEEP_FRESH_DAYS),
    }
    with services.db.rows() as conn:
        return sorted({user_id for (user_id,) in conn.execute(_VIEWERS, params)})


# Built once (each HomesJob asks): building the statement cost more than running it. A union of
# look-ups from the engagement's own people (its channel's members, its team, the admins, `also`)
# into home_viewer by its key: the cost follows the engagement's audience, not how many people
# opened Home.
_RECENT = col(HomeViewer.opened_at) >= bindparam("since")
_VIEWERS = union(
    select(col(HomeViewer.user_id))
    .join(ChannelMember, col(ChannelMember.user_id) == col(HomeViewer.user_id))
    .join(Engagement, col(Engagement.channel_id) == col(ChannelMember.channel_id))
    .where(col(Engagement.id) == bindparam("engagement"), col(HomeViewer.view) == ALL, _RECENT),
    select(col(HomeViewer.user_id))
    .join(Member, col(Member.user_id) == col(HomeViewer.user_id))
    .join(MemberRole, col(MemberRole.member_id) == col(Member.id))
    .where(
        col(Member.engagement_id) == bindparam("engagement"), col(MemberRole.role).in_(VENDOR_ROLES), _RECENT
    ),
    select(col(HomeViewer.user_id)).where(
        col(HomeViewer.user_id).in_(bindparam("admins", expanding=True)), col(HomeViewer.view) == ALL, _RECENT
    ),
    select(col(HomeViewer.user_id)).where(
        col(HomeViewer.user_id).in_(bindparam("also", expanding=True)), _RECENT
    ),
)


def refresh_homes(services: Services, engagement_id: int, also: Collection[str] = ()) -> None:
    """Queue a re-publish of the Homes that show this engagement (see `HomesJob`), and of `also`
    (people who just stopped seeing it) when they have opened Home."""
    services.outbox.submit(HomesJob(services, engagement_id, frozenset(also)))
    refresh_project_page(services, engagement_id)  # what changes Home changes the project page too
