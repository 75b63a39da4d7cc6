"""A seeded portfolio for `golive report`: engagements of every size and state, in one database.

Each engagement is started exactly as `/golive start` starts one (`start_engagement`), then moved
on in the database as weeks of work would have moved it: phases completed on chosen dates (each
item done that day, each gate requested some business days before and approved that day), some
live, one cancelled, one sign-off still waiting. Two customers carry hostile names: HTML for the
report page, a formula for the spreadsheet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlmodel import Session, select

from bot.engagement.lifecycle import build_start_options, calendar_for, phases_of, start_engagement
from bot.engagement.playbook import default_playbook
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Engagement, Gate, Item, SignoffDecision, SignoffRequest

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # the report is "as of" this time
HTML_NAME = '<script>alert("pwned")</script> & Sons'
FORMULA_NAME = '=HYPERLINK("http://evil.example","click")'
PLAYBOOK = default_playbook()


@dataclass(frozen=True)
class Seed:
    name: str
    size: str
    kickoff: str
    # business days each finished phase ended after (+) or before (-) its planned end, cumulated
    # from the one before: (0, 0, 0, 0, 0) is on plan, five phases finished means live
    finished: tuple[int, ...] = ()
    wait: int = 2  # business days each gate waited for its approval
    status: str | None = None  # cancelled
    pending: bool = False  # the current phase's first gate requested and waiting
    progress: int = 0  # items of the current phase done


SEEDS = (
    Seed("Northwind Traders", "small", "2026-09-07", finished=(0, 0, 0, 0, 0), wait=1),
    Seed("Contoso", "small", "2026-09-14", finished=(1, 1, 2, 3, 4), wait=3),
    Seed("Fabrikam", "medium", "2026-08-03", finished=(-1, -1, -2, -2, -2), wait=2),
    Seed("Stark Industries", "enterprise", "2026-06-01", finished=(2, 4, 6, 9, 10), wait=5),
    Seed("Globex", "medium", "2026-10-05", finished=(3, 6), progress=1),  # in Configurations, behind
    Seed("Initech", "medium", "2026-11-16", finished=(-3,), progress=7),  # ahead
    Seed("Umbrella", "enterprise", "2026-09-28", finished=(0, 1), wait=4, pending=True, progress=5),
    Seed(HTML_NAME, "small", "2026-11-23", finished=(0,), progress=2),
    Seed(FORMULA_NAME, "medium", "2026-10-12", finished=(0,), status="cancelled"),
)


def _at(d: date, hour: int = 15) -> datetime:
    return datetime.combine(d, time(hour), tzinfo=UTC)


def _finish(session: Session, engagement: Engagement, offsets: tuple[int, ...], wait: int) -> None:
    calendar = calendar_for(engagement)
    phases = phases_of(session, engagement.id)  # type: ignore[arg-type]
    for phase, offset in zip(phases, offsets, strict=False):
        done_on = calendar.add(phase.planned_end, offset) if offset else phase.planned_end
        for item in session.exec(select(Item).where(Item.phase_id == phase.id)).all():
            item.status, item.done_at, item.done_by = "done", _at(done_on, 12), "U0LEAD"
            session.add(item)
        for n, gate in enumerate(session.exec(select(Gate).where(Gate.phase_id == phase.id)).all()):
            asked = calendar.add(done_on, -(wait + (gate.id or 0) % 3 - n))
            request = SignoffRequest(
                gate_id=gate.id,  # type: ignore[arg-type]
                version=1,
                fingerprint="seed",
                content="{}",
                status="approved",
                requested_by="U0LEAD",
                requested_at=_at(asked, 9),
                channel_id=engagement.channel_id,
            )
            session.add(request)
            session.flush()
            session.add(
                SignoffDecision(
                    request_id=request.id,  # type: ignore[arg-type]
                    gate_id=gate.id,  # type: ignore[arg-type]
                    gate_key=gate.key,
                    version=1,
                    fingerprint="seed",
                    decision="approved",
                    user_id="U0APPR",
                    team_id="T0CUST",
                    display_name="Ada Approver",
                    decided_at=_at(done_on, 14),
                )
            )
            gate.status, gate.approved_at = "approved", _at(done_on, 14)
            session.add(gate)
        phase.completed_at = _at(done_on)
        session.add(phase)
    engagement.phase_index = min(len(offsets) + 1, len(phases))
    if len(offsets) >= len(phases):
        engagement.status = "live"
    session.add(engagement)


def _progress(session: Session, engagement: Engagement, done: int) -> None:
    """The first `done` items of the current phase done, the day before NOW."""
    phase = next(p for p in phases_of(session, engagement.id) if p.number == engagement.phase_index)  # type: ignore[arg-type]
    items = session.exec(select(Item).where(Item.phase_id == phase.id).order_by(Item.number)).all()  # type: ignore[arg-type]
    for item in items[:done]:
        item.status, item.done_at, item.done_by = (
            "done",
            _at(calendar_for(engagement).add(NOW.date(), -1)),
            "U0LEAD",
        )
        session.add(item)


def _ask(session: Session, engagement: Engagement, days_ago: int) -> None:
    """The current phase's first gate requested `days_ago` business days before NOW, no answer."""
    calendar = calendar_for(engagement)
    phase = next(p for p in phases_of(session, engagement.id) if p.number == engagement.phase_index)  # type: ignore[arg-type]
    gate = session.exec(select(Gate).where(Gate.phase_id == phase.id)).first()
    assert gate is not None
    session.add(
        SignoffRequest(
            gate_id=gate.id,  # type: ignore[arg-type]
            version=1,
            fingerprint="seed",
            content="{}",
            status="open",
            requested_by="U0LEAD",
            requested_at=_at(calendar.add(NOW.date(), -days_ago), 9),
            channel_id=engagement.channel_id,
        )
    )


def seed_portfolio(url: str) -> dict[str, int]:
    """Seed SEEDS into the database at `url` (migrated first); customer name -> engagement id."""
    upgrade(url)
    db = Database(url)
    ids: dict[str, int] = {}
    try:
        for n, seed in enumerate(SEEDS):
            kickoff = date.fromisoformat(seed.kickoff)
            started = _at(kickoff, 8)
            opts = build_start_options(
                name=seed.name,
                size=seed.size,
                kickoff=seed.kickoff,
                target=None,
                tz="Europe/Berlin",
                country=None,
                pilot=None,
                ingest=None,
                now=started,
                default_tz="UTC",
            )
            with db.session() as session:
                e = start_engagement(
                    session,
                    opts,
                    playbook=PLAYBOOK,
                    team_id="T0VENDOR",
                    channel_id=f"C0P{n:05d}",
                    user_id="U0LEAD",
                    user_name="Lena Lead",
                    now=started,
                )
                _finish(session, e, seed.finished, seed.wait)
                if seed.progress:
                    _progress(session, e, seed.progress)
                if seed.pending:
                    _ask(session, e, days_ago=4)
                if seed.status:
                    e.status = seed.status
                    session.add(e)
                ids[seed.name] = e.id  # type: ignore[assignment]
    finally:
        db.dispose()
    return ids
