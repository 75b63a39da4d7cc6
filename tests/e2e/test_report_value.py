"""Issue 28, part 3: time to value in `golive report`, from a portfolio whose figures are known.

Five engagements are started as `/golive start` starts them (no holidays: Monday to Friday), then
given dates by hand: the day the playbook's first_value milestone was reached (a gate approved, or,
for the "quick" playbook, an item ticked), the day each phase completed, items overdue on each
side (one of them snoozed for a week, which does not count as waiting). Every due date the start
gave is cleared first, so the overdue days are only the ones set here. Each figure below is
counted by hand from the calendar (business days, the kickoff day counted as day 1).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, time

import pytest
from sqlmodel import Session, select

from bot.engagement.lifecycle import build_start_options, phases_of, start_engagement
from bot.engagement.playbook import default_playbook
from bot.engagement.report import Rate, Spread, build_report
from bot.exports.report_render import to_csv, to_html
from storage.db import Database
from storage.migrate import upgrade
from storage.models import AuditEvent, Engagement, Gate, Item, Rating, SignoffDecision, SignoffRequest

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # a Monday
PLAYBOOK = default_playbook()  # first_value: test_output (the approved test invoices)
QUICK = PLAYBOOK.model_copy(update={"first_value": "test_invoices"})  # an item's tick
LENA, OMAR = ("U0LENA", "Lena Lead"), ("U0OMAR", "Omar Owner")


def _at(d: str, hour: int = 12) -> datetime:
    return datetime.combine(date.fromisoformat(d), time(hour), tzinfo=UTC)


def _start(
    session: Session, n: int, name: str, size: str, kickoff: str, target: str | None, lead: tuple[str, str]
) -> Engagement:
    opts = build_start_options(
        name=name,
        size=size,
        kickoff=kickoff,
        target=target,
        tz="UTC",
        country=None,
        pilot=None,
        ingest=None,
        now=_at(kickoff, 8),
        default_tz="UTC",
    )
    e = start_engagement(
        session,
        opts,
        playbook=PLAYBOOK,
        team_id="T0VENDOR",
        channel_id=f"C0V{n:05d}",
        user_id=lead[0],
        user_name=lead[1],
        now=_at(kickoff, 8),
    )
    for item in session.exec(select(Item).where(Item.engagement_id == e.id)).all():
        item.due_on = None
        session.add(item)
    return e


def _complete(
    session: Session, e: Engagement, days: list[str], planned: list[tuple[str, str]] | None = None
) -> None:
    phases = phases_of(session, e.id)  # type: ignore[arg-type]
    for n, phase in enumerate(phases):
        if planned and n < len(planned):
            phase.planned_start, phase.planned_end = (date.fromisoformat(d) for d in planned[n])
        if n < len(days):
            phase.completed_at = _at(days[n], 16)
        session.add(phase)
    e.phase_index = min(len(days) + 1, len(phases))
    if len(days) == len(phases):
        e.status = "live"
    session.add(e)


def _approve(session: Session, e: Engagement, key: str, day: str) -> None:
    gate = session.exec(select(Gate).where(Gate.engagement_id == e.id, Gate.key == key)).one()
    request = SignoffRequest(
        gate_id=gate.id,  # type: ignore[arg-type]
        version=1,
        fingerprint="seed",
        content="{}",
        status="approved",
        requested_by="U0LEAD",
        requested_at=_at(day, 9),
        channel_id=e.channel_id,
    )
    session.add(request)
    session.flush()
    session.add(
        SignoffDecision(
            request_id=request.id,  # type: ignore[arg-type]
            gate_id=gate.id,  # type: ignore[arg-type]
            gate_key=key,
            version=1,
            fingerprint="seed",
            decision="approved",
            user_id="U0APPR",
            team_id="T0CUST",
            display_name="Ada Approver",
            decided_at=_at(day, 14),
        )
    )
    gate.status, gate.approved_at = "approved", _at(day, 14)
    session.add(gate)


def _item(session: Session, e: Engagement, key: str, due: str | None, done: str | None) -> Item:
    item = session.exec(select(Item).where(Item.engagement_id == e.id, Item.key == key)).one()
    item.due_on = date.fromisoformat(due) if due else None
    if done:
        item.status, item.done_at, item.done_by = "done", _at(done), "U0LEAD"
    session.add(item)
    return item


def _rate(session: Session, e: Engagement, milestone: str, user: str, score: int | None) -> None:
    session.add(
        Rating(
            engagement_id=e.id,  # type: ignore[arg-type]
            milestone=milestone,
            title=milestone,
            user_id=user,
            asked_at=_at("2026-10-01", 9),
            score=score,
            rated_at=None if score is None else _at("2026-10-01", 10),
        )
    )


# A's and B's plan, set by hand: 3, 5, 5, 5 and 2 business days.
PLAN = [
    ("2026-09-07", "2026-09-09"),
    ("2026-09-10", "2026-09-16"),
    ("2026-09-17", "2026-09-23"),
    ("2026-09-24", "2026-09-30"),
    ("2026-10-01", "2026-10-02"),
]


def seed(url: str) -> dict[str, int]:
    upgrade(url)
    db = Database(url)
    ids: dict[str, int] = {}
    try:
        with db.session() as s:
            # A: small, Lena. Test invoices approved Thu 24 Sep: 7..24 Sep = 14 business days.
            # Live Fri 2 Oct, as planned: 20. A vendor item due Mon 21 Sep, done Wed 23: 2 days.
            a = _start(s, 1, "Alpha", "small", "2026-09-07", "2026-10-02", LENA)
            _complete(
                s, a, ["2026-09-08", "2026-09-15", "2026-09-22", "2026-09-29", "2026-10-02"], planned=PLAN
            )
            _approve(s, a, "test_output", "2026-09-24")
            _item(s, a, "contract_parsing", "2026-09-21", "2026-09-23")
            # B: small, Omar. Approved Thu 1 Oct: 19. Live Fri 9 Oct, a week late: 25. A customer
            # item due Mon 28 Sep, done Thu 1 Oct: 3 days.
            b = _start(s, 2, "Beta", "small", "2026-09-07", "2026-10-02", OMAR)
            _complete(
                s, b, ["2026-09-09", "2026-09-16", "2026-09-23", "2026-10-01", "2026-10-09"], planned=PLAN
            )
            _approve(s, b, "test_output", "2026-10-01")
            _item(s, b, "connect_tax_payment", "2026-09-28", "2026-10-01")
            # C: medium, Lena, the "quick" playbook: its first value is the test invoices' tick, Wed
            # 2 Sep: 3 Aug..2 Sep = 23. Live Fri 18 Sep, a week early: 35. (Its gate approved later
            # is not its milestone.)
            c = _start(s, 3, "Gamma", "medium", "2026-08-03", "2026-09-25", LENA)
            c.playbook = "quick"
            _complete(s, c, ["2026-08-07", "2026-08-21", "2026-08-28", "2026-09-11", "2026-09-18"])
            _item(s, c, "test_invoices", None, "2026-09-02")
            _approve(s, c, "test_output", "2026-09-10")
            # D: medium, Omar, active, no value yet. A customer item due Mon 2 Nov, still open:
            # 3..30 Nov = 20 business days, less a snooze from Mon 9 Nov until Mon 16 (9..13 Nov,
            # 5 days): 15. A vendor item due Fri 20 Nov, done Wed 25: 3.
            d = _start(s, 4, "Delta", "medium", "2026-10-05", "2026-12-11", OMAR)
            _complete(s, d, ["2026-10-16", "2026-11-06"])
            late = _item(s, d, "connect_tax_payment", "2026-11-02", None)
            _item(s, d, "contract_parsing", "2026-11-20", "2026-11-25")
            s.flush()
            phase_no = next(p.number for p in phases_of(s, d.id) if p.id == late.phase_id)  # type: ignore[arg-type]
            s.add(
                AuditEvent(
                    engagement_id=d.id,  # type: ignore[arg-type]
                    at=_at("2026-11-09", 10),
                    actor_id="U0CUST",
                    kind="item.snoozed",
                    subject=f"{phase_no}.{late.number}",
                    detail=json.dumps({"until": "2026-11-16"}),
                )
            )
            # The customer's ratings (section 1): A 5 and 4, B 2, C asked but not answered, D 3.
            _rate(s, a, "test_output", "U0APPR", 5)
            _rate(s, a, "golive", "U0APPR", 4)
            _rate(s, b, "test_output", "U0APPR", 2)
            _rate(s, c, "test_output", "U0APPR", None)
            _rate(s, d, "solution_design", "U0APPR", 3)
            # E: enterprise, Lena, cancelled: in no figure across engagements (its rating of 1 too).
            e = _start(s, 5, "Epsilon", "enterprise", "2026-10-12", None, LENA)
            _approve(s, e, "solution_design", "2026-10-20")
            _rate(s, e, "solution_design", "U0APPR", 1)
            e.status = "cancelled"
            s.add(e)
            s.flush()
            ids = {x.customer_name: x.id for x in (a, b, c, d, e)}  # type: ignore[misc]
    finally:
        db.dispose()
    return ids


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    url = f"sqlite:///{(tmp_path_factory.mktemp('value') / 'value.sqlite3').as_posix()}"
    seed(url)
    db = Database(url)
    try:
        with db.read() as session:
            return build_report(session, PLAYBOOK, NOW, playbooks={"quick": QUICK})
    finally:
        db.dispose()


def test_time_to_value_per_engagement(report):
    rows = {r.customer: r for r in report.rows}
    a, b, c, d, e = (rows[n] for n in ("Alpha", "Beta", "Gamma", "Delta", "Epsilon"))
    assert [(r.playbook, r.consultant) for r in (a, b, c, d)] == [
        ("default", "Lena Lead"),
        ("default", "Omar Owner"),
        ("quick", "Lena Lead"),
        ("default", "Omar Owner"),
    ]
    assert (a.first_value_on, a.days_to_first_value, a.days_to_golive) == (date(2026, 9, 24), 14, 20)
    assert (b.days_to_first_value, b.days_to_golive, b.on_time) == (19, 25, False)
    assert (c.first_value_on, c.days_to_first_value, c.days_to_golive) == (date(2026, 9, 2), 23, 35)
    assert (d.days_to_first_value, d.days_to_golive) == (None, None)
    assert e.days_to_golive is None and e.overdue_days == {}
    # Planned against actual per phase (A's and B's plans were set by hand).
    keys = ["discovery", "solutioning", "configurations", "testing", "golive"]
    assert (
        [a.planned_phase_days[k] for k in keys] == [3, 5, 5, 5, 2] == [b.planned_phase_days[k] for k in keys]
    )
    assert [a.phase_days[k] for k in keys] == [2, 6, 6, 6, 4]
    assert [b.phase_days[k] for k in keys] == [3, 6, 6, 7, 7]
    # Overdue item-days by owner side; D's snoozed week does not count.
    assert (a.overdue_days["vendor"], a.overdue_days["customer"]) == (2, 0)
    assert (b.overdue_days["vendor"], b.overdue_days["customer"]) == (0, 3)
    assert (c.overdue_days["vendor"], c.overdue_days["customer"]) == (0, 0)
    assert (d.overdue_days["vendor"], d.overdue_days["customer"]) == (3, 15)
    assert report.sides == ["vendor", "customer"]
    assert [(r.ratings, r.rating_median) for r in (a, b, c, d)] == [
        ((5, 4), 4.5),
        ((2,), 2.0),
        ((), None),
        ((3,), 3.0),
    ]


def test_time_to_value_medians_and_p90_by_playbook_size_and_consultant(report):
    stats = {(s.by, s.group): s for s in report.value_stats}
    assert list(stats) == [
        ("playbook", "default"),
        ("playbook", "quick"),
        ("size", "small"),
        ("size", "medium"),
        ("consultant", "Lena Lead"),
        ("consultant", "Omar Owner"),
        ("all", "all"),
    ]  # the cancelled one (enterprise) is in none

    def figures(by: str, group: str) -> tuple[object, ...]:
        s = stats[(by, group)]
        return (
            s.engagements,
            s.first_value,
            s.golive,
            s.overdue["vendor"],
            s.overdue["customer"],
            s.on_time,
        )

    assert figures("playbook", "default") == (
        3,
        Spread(16.5, 19.0, 2),  # 14, 19
        Spread(22.5, 25.0, 2),  # 20, 25
        Spread(2.0, 3.0, 3),  # 2, 0, 3
        Spread(3.0, 15.0, 3),  # 0, 3, 15
        Rate(1, 2),
    )
    assert figures("playbook", "quick") == (
        1,
        Spread(23.0, 23.0, 1),
        Spread(35.0, 35.0, 1),
        Spread(0.0, 0.0, 1),
        Spread(0.0, 0.0, 1),
        Rate(1, 1),
    )
    assert figures("size", "small") == (
        2,
        Spread(16.5, 19.0, 2),
        Spread(22.5, 25.0, 2),
        Spread(1.0, 2.0, 2),
        Spread(1.5, 3.0, 2),
        Rate(1, 2),
    )
    assert figures("size", "medium") == (
        2,
        Spread(23.0, 23.0, 1),
        Spread(35.0, 35.0, 1),
        Spread(1.5, 3.0, 2),
        Spread(7.5, 15.0, 2),
        Rate(1, 1),
    )
    assert figures("consultant", "Lena Lead") == (
        2,
        Spread(18.5, 23.0, 2),
        Spread(27.5, 35.0, 2),
        Spread(1.0, 2.0, 2),
        Spread(0.0, 0.0, 2),
        Rate(2, 2),
    )
    assert figures("consultant", "Omar Owner") == (
        2,
        Spread(19.0, 19.0, 1),
        Spread(25.0, 25.0, 1),
        Spread(1.5, 3.0, 2),
        Spread(9.0, 15.0, 2),
        Rate(0, 1),
    )
    assert figures("all", "all") == (
        4,
        Spread(19.0, 23.0, 3),  # 14, 19, 23: p90 is the 3rd of 3
        Spread(25.0, 35.0, 3),
        Spread(1.0, 3.0, 4),  # 0, 0, 2, 3: p90 is the 4th of 4
        Spread(1.5, 15.0, 4),  # 0, 0, 3, 15
        Rate(2, 3),
    )
    assert str(stats[("all", "all")].on_time) == "67% (2 of 3)"
    # Planned against actual per phase, of the finished ones: small is A and B.
    small = stats[("size", "small")]
    assert {k: (v.median, v.p90) for k, v in small.phase_days.items()} == {
        "discovery": (2.5, 3.0),
        "solutioning": (6.0, 6.0),
        "configurations": (6.0, 6.0),
        "testing": (6.5, 7.0),
        "golive": (5.5, 7.0),
    }
    assert {k: v.median for k, v in small.planned_days.items()} == {
        "discovery": 3.0,
        "solutioning": 5.0,
        "configurations": 5.0,
        "testing": 5.0,
        "golive": 2.0,
    }
    assert stats[("all", "all")].phase_days["golive"].n == 3  # D is not finished
    # The customer's ratings: the median of every rating given in the group, and the low ones.
    assert {k: (s.rating.median, s.rating.n, s.low_ratings) for k, s in stats.items()} == {
        ("playbook", "default"): (3.5, 4, 1),  # 5, 4, 2, 3
        ("playbook", "quick"): (None, 0, 0),
        ("size", "small"): (4.0, 3, 1),
        ("size", "medium"): (3.0, 1, 0),
        ("consultant", "Lena Lead"): (4.5, 2, 0),
        ("consultant", "Omar Owner"): (2.5, 2, 1),
        ("all", "all"): (3.5, 4, 1),  # not the cancelled one's 1
    }


def test_time_to_value_in_the_csv(report):
    rows = list(csv.DictReader(io.StringIO(to_csv(report).decode("utf-8"))))
    alpha = next(r for r in rows if r["customer"] == "Alpha")
    assert (alpha["playbook"], alpha["consultant"], alpha["first_value_on"]) == (
        "default",
        "Lena Lead",
        "2026-09-24",
    )
    assert (alpha["days_to_first_value"], alpha["days_to_golive"]) == ("14", "20")
    assert (alpha["planned_days_golive"], alpha["days_golive"]) == ("2", "4")
    assert (alpha["overdue_days_vendor"], alpha["overdue_days_customer"]) == ("2", "0")
    medians = {(r["group_by"], r["group"]): r for r in rows if r["row"] == "median_time_to_value"}
    p90s = {(r["group_by"], r["group"]): r for r in rows if r["row"] == "p90_time_to_value"}
    assert len(medians) == len(p90s) == 7
    small = medians[("size", "small")]
    assert (float(small["days_to_first_value"]), float(small["days_to_golive"])) == (16.5, 22.5)
    assert small["on_time"] == "50% (1 of 2)" and small["engagements"] == "2"
    assert (float(small["days_golive"]), float(small["planned_days_golive"])) == (5.5, 2.0)
    assert float(p90s[("size", "small")]["days_testing"]) == 7.0
    everyone = p90s[("all", "all")]
    assert float(everyone["days_to_first_value"]) == 23.0 and float(everyone["overdue_days_customer"]) == 15.0
    assert float(medians[("consultant", "Omar Owner")]["overdue_days_customer"]) == 9.0
    assert (alpha["rating_median"], alpha["ratings"]) == ("4.5", "2")
    assert (medians[("all", "all")]["rating_median"], medians[("all", "all")]["ratings"]) == ("3.5", "4")


def test_time_to_value_in_the_html_with_its_distribution(report):
    html = to_html(report).decode("utf-8")
    assert "Time to value" in html
    assert html.count("data:image/png;base64,") == 4  # lateness, phases, waits and time to value
    assert "Omar Owner" in html and "16.5" in html and "67% (2 of 3)" in html
    assert "Planned against actual, by group" in html
    assert '<span class="late">5.5</span> / 2 <span class="muted">(2)</span>' in html  # small's go-live phase
