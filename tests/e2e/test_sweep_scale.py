"""Issue 11: the sweep's cost follows what is due, not how many engagements exist.

The sweep plans an engagement when its next check comes (an index on status and
`next_check_at`) or when it changed (a next-check request, written with every audited change).
These tests hold it to the sweep it replaced, which planned every active engagement every time:
at every step of four weeks of changes made through Slack, in five time zones across DST changes
and holidays, the reminders the sweep makes are exactly the ones planning everything would make.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, update
from sqlmodel import Session, col, select

from bot.reminders.milestones import sync_schedule
from bot.reminders.nudges import entries
from bot.reminders.working_hours import clock_of
from sandbox.harness import APPROVER, CHANNEL, CONTRIBUTOR, LEAD, PERSONAS, Harness
from storage.models import Engagement, EngagementPhase, Item, NextCheckRequest, Reminder
from storage.reminder_rows import ensure
from tests.e2e.helpers import ephemeral_texts, mention, request_signoff


def add_channel(h: Harness, channel: str) -> None:
    h.standin.add_channel(
        channel, name=channel.lower(), ext_shared=True, members=[p.user_id for p in PERSONAS]
    )


def start(h: Harness, channel: str, options: str) -> Engagement:
    add_channel(h, channel)
    h.command(f"start Customer {channel} size=small {options}", channel=channel)
    h.command(f"role {mention(CONTRIBUTOR)} contributor", channel=channel)
    h.command(f"role {mention(APPROVER)} approver", channel=channel)
    with h.services.db.read() as session:
        return session.exec(select(Engagement).where(Engagement.channel_id == channel)).one()


def statements_in_sweep(h: Harness) -> list[str]:
    seen: list[str] = []
    h.idle()  # the outbox's work queued before (e.g. the digests' timelines) is not the sweep's

    def count(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(statement.split(None, 1)[0].upper())

    event.listen(h.services.db.engine, "before_cursor_execute", count)
    try:
        h.run_sweep()
    finally:
        event.remove(h.services.db.engine, "before_cursor_execute", count)
    return seen


def keys(h: Harness) -> dict[str, str]:
    with h.services.db.read() as session:
        return dict(session.exec(select(Reminder.dedupe_key, Reminder.status)).all())  # type: ignore[arg-type]


# -- the sweep before: every active engagement, every time ------------------------------------
def plan_everything(session: Session, now: datetime) -> None:
    """The plan as it was before the sweep followed what is due (kept here as the definition)."""
    for e in session.exec(select(Engagement).where(Engagement.status == "active")).all():
        sync_schedule(session, e, now)
        if e.flagged:
            continue
        clock = clock_of(e)
        if not clock.in_hours(now):
            continue
        today = clock.today(now)
        if not e.nudges_paused and entries(session, e, now):
            ensure(
                session,
                e.id,
                "nudge",
                f"nudge:{e.id}:{today.isoformat()}",
                now,
                {"date": today.isoformat()},
                now,
            )  # type: ignore[arg-type]
        week_start = today - timedelta(days=today.weekday())
        first_day = clock.calendar.on_or_after(week_start)
        if first_day <= today <= clock.calendar.add(first_day, 1):
            year, week, _ = today.isocalendar()
            ensure(
                session,
                e.id,  # type: ignore[arg-type]
                "digest",
                f"digest:{e.id}:{year}-W{week:02d}",
                clock.at_local(first_day, clock.start),
                {"week": f"{year}-W{week:02d}"},
                now,
            )


def what_planning_everything_makes(h: Harness, now: datetime) -> tuple[set[str], set[str]]:
    """(created, cancelled) reminder keys, in a transaction that is rolled back."""
    before = keys(h)
    with h.services.db.engine.connect() as conn:
        trans = conn.begin()
        try:
            with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
                plan_everything(session, now)
                session.flush()
                after = dict(session.exec(select(Reminder.dedupe_key, Reminder.status)).all())  # type: ignore[arg-type]
        finally:
            trans.rollback()
    return _changes(before, after)


def _changes(before: dict[str, str], after: dict[str, str]) -> tuple[set[str], set[str]]:
    created = set(after) - set(before)
    cancelled = {k for k, v in after.items() if v == "cancelled" and before.get(k) == "pending"}
    return created, cancelled


# -- the tests ---------------------------------------------------------------------------------
def test_with_nothing_due_a_sweep_does_not_grow_with_engagements(harness):
    h = harness
    for n in range(3):
        start(h, f"C0FEW{n}", "kickoff=2026-11-30 tz=Europe/Berlin")
    h.run_sweep()  # Monday 09:00 Berlin: the first plan, and this week's digests
    h.clock.advance(timedelta(minutes=30))
    few = statements_in_sweep(h)
    for n in range(12):
        start(h, f"C0MANY{n:02d}", "kickoff=2026-11-30 tz=Europe/Berlin")
    h.run_sweep()  # the new ones are planned (and get their digests) once
    h.clock.advance(timedelta(minutes=30))
    many = statements_in_sweep(h)
    assert Counter(many) == Counter(few)
    # two index look-ups that find nothing, the claim, and the ratings not yet sent (one query)
    assert len(many) <= 10, many
    assert "INSERT" not in many and "DELETE" not in many


def test_the_next_check_is_the_first_working_moment_something_is_due(small):
    h = small
    h.run_sweep()  # Monday 30 Nov 09:00 Berlin: the digest; Discovery's customer items are due Tuesday
    with h.services.db.read() as session:
        e = session.exec(select(Engagement)).one()
    assert e.next_check_at == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)  # Wednesday 09:00 Berlin
    h.clock.set(datetime(2026, 12, 2, 7, 59, tzinfo=UTC))
    assert "INSERT" not in statements_in_sweep(h)  # a minute early: the engagement is not looked at
    h.clock.set(datetime(2026, 12, 2, 8, 0, tzinfo=UTC))
    report = h.run_sweep()
    assert [line for line in report.sent if line.startswith("nudge")]


def test_a_change_is_planned_at_the_next_sweep_whatever_the_next_check_said(small):
    h = small

    def next_check() -> datetime:
        with h.services.db.read() as session:
            return session.exec(select(Engagement)).one().next_check_at  # type: ignore[return-value]

    h.run_sweep()
    assert next_check() == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)  # Wednesday 09:00 Berlin
    h.clock.advance(timedelta(minutes=5))
    h.command("nudges pause")
    with h.services.db.read() as session:
        assert session.exec(select(NextCheckRequest)).all(), "the change asked for a new plan"
    h.clock.advance(timedelta(minutes=1))
    h.run_sweep()
    assert next_check() == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # paused: only next Monday's digest
    with h.services.db.read() as session:
        assert session.exec(select(NextCheckRequest)).all() == []  # the sweep took the request
    h.clock.set(datetime(2026, 12, 2, 9, 0, tzinfo=UTC))  # Wednesday 10:00 Berlin
    h.run_sweep()
    assert not [m for m in h.standin.messages(CHANNEL) if "Friendly reminder" in m["text"]]
    h.command("nudges resume")  # the next check said Monday; the change says now
    h.clock.advance(timedelta(minutes=1))
    report = h.run_sweep()
    [nudge] = [line for line in report.sent if line.startswith("nudge")]
    assert "1.5" in nudge and "1.6" in nudge


def test_a_failing_engagement_does_not_stop_the_others(small, monkeypatch):
    """Planning is batched; one engagement whose plan raises is set aside for a retry, the rest
    of its batch is planned."""
    h = small
    other = start(h, "C0OTHER", "kickoff=2026-11-30 tz=Europe/Berlin")
    with h.services.db.session() as session:  # a time zone that no longer exists (a bad row, a tzdata change)
        session.execute(
            update(Engagement).where(col(Engagement.id) != other.id).values(timezone="Mars/Olympus")
        )
    h.clock.set(datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    report = h.run_sweep()
    assert [line for line in report.sent if line.startswith("nudge") and "C0OTHER" in line]
    with h.services.db.read() as session:
        broken = session.exec(select(Engagement).where(Engagement.id != other.id)).one()
    assert broken.next_check_at == h.clock.now() + timedelta(minutes=5)


STEPS_SEED = 11


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_four_weeks_of_changes_make_the_reminders_planning_everything_makes(
    harness_factory, request, backend
):
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    h = harness_factory(url)
    h.lift_rate_limits()  # four weeks of work in a minute: Slack's pacing is tested elsewhere
    rng = random.Random(STEPS_SEED)
    # Monday 19 Oct 2026: Europe leaves DST on 25 Oct, the US on 1 Nov; New Zealand's Labour Day
    # is Monday 26 Oct; Dubai works Sunday to Thursday; Veterans Day (US) is 11 Nov.
    h.clock.set(datetime(2026, 10, 19, 6, 0, tzinfo=UTC))
    channels = {
        "C0BERLIN": "kickoff=2026-10-19 tz=Europe/Berlin",
        "C0NYC": "kickoff=2026-10-19 tz=America/New_York target=2026-11-20",
        "C0AKL": "kickoff=2026-10-20 tz=Pacific/Auckland",
        "C0DXB": "kickoff=2026-10-19 tz=Asia/Dubai",
        "C0PUNE": "kickoff=2026-10-21 tz=Asia/Kolkata",
    }
    for channel, options in channels.items():
        start(h, channel, options)
    h.command("settings days=sun-thu hours=08:00-16:00", channel="C0DXB")
    h.command("settings cadence=1 hours=09:30-18:00", channel="C0PUNE")

    def customer_items(channel: str) -> list[tuple[str, int]]:
        with h.services.db.read() as session:
            rows = session.exec(
                select(EngagementPhase.number, Item.number, Item.id)
                .join(Item, col(Item.phase_id) == col(EngagementPhase.id))
                .join(Engagement, col(Engagement.id) == col(Item.engagement_id))
                .where(Engagement.channel_id == channel, Item.owner_side == "customer", Item.status == "open")
            ).all()
        return [(f"{p}.{n}", i) for p, n, i in rows]

    def last_nudge(channel: str) -> dict | None:
        found = [m for m in h.standin.messages(channel) if "Friendly reminder" in m["text"]]
        return found[-1] if found else None

    def local_day(channel: str, days: int) -> str:
        with h.services.db.read() as session:
            e = session.exec(select(Engagement).where(Engagement.channel_id == channel)).one()
        return (clock_of(e).today(h.clock.now()) + timedelta(days=days)).isoformat()

    paused: dict[str, datetime] = {}

    def act(channel: str) -> str:
        items = customer_items(channel)
        ref = rng.choice(items)[0] if items else "1.1"
        choice = rng.randrange(16)
        if choice == 0:
            h.command(f"done {ref}", channel=channel)
        elif choice == 1:
            h.command(f"due {ref} {local_day(channel, rng.randrange(0, 6))}", channel=channel)
        elif choice == 2:
            h.command(f"assign {ref} {mention(rng.choice([APPROVER, CONTRIBUTOR]))}", channel=channel)
        elif choice == 3:
            h.command(f"na {ref} not needed here", channel=channel)
        elif choice == 4:
            h.command(f"add {rng.randrange(1, 3)} Send the logo owner=customer", channel=channel)
        elif choice == 5:
            h.command("nudges pause", channel=channel)  # resumed a day later, below
            paused[channel] = h.clock.now()
        elif choice == 6:
            h.command(f"settings cadence={rng.randrange(1, 4)}", channel=channel)
        elif choice == 7:
            h.command(
                f"settings hours={rng.choice(['09:00-17:00', '07:30-15:30', '10:00-19:00'])}", channel=channel
            )
        elif choice == 8:
            h.command(f"target {local_day(channel, rng.randrange(10, 40))}", channel=channel)
        elif choice == 9:
            h.command(
                f"dryrun {local_day(channel, rng.randrange(2, 9))} {rng.choice(['09:00', '14:30'])}",
                channel=channel,
            )
        elif choice == 10:
            request_signoff(h, rng.choice(["solution_design", "integration_workflows"]), channel=channel)
        elif choice in (11, 12, 13) and (nudge := last_nudge(channel)) is not None:
            listed = [
                int(e["action_id"].split(":")[1])
                for b in nudge["blocks"]
                if b["type"] == "actions"
                for e in b["elements"]
                if e["action_id"].startswith("nudge_snooze:")
            ]
            if not listed:
                return f"{channel}: nothing to snooze"
            item_id = rng.choice(listed)
            if choice == 13:
                h.driver.click(channel, nudge["ts"], f"nudge_blocked:{item_id}", user=CONTRIBUTOR.user_id)
                h.idle()
                views = h.standin.open_views(CONTRIBUTOR.user_id)
                h.driver.submit_view(
                    views[-1]["id"], {"reason": {"value": "waiting on IT"}}, user=CONTRIBUTOR.user_id
                )
            else:
                h.driver.click(
                    channel,
                    nudge["ts"],
                    f"nudge_snooze:{item_id}",
                    user=CONTRIBUTOR.user_id,
                    selected_option=f"{rng.choice([1, 3])}:{item_id}",
                )
        elif choice == 14:
            h.command(f"unblock {ref}", channel=channel)
        else:
            h.command(f"undo {ref}", channel=channel)
        h.idle()
        return f"{channel}: action {choice} on {ref}"

    end = datetime(2026, 11, 16, 0, 0, tzinfo=UTC)
    steps = Counter()
    history: list[str] = []
    while h.clock.now() < end:
        h.clock.advance(timedelta(minutes=rng.randrange(20, 7 * 60)))
        if rng.random() < 0.3:
            history.append(act(rng.choice(list(channels))))
        for channel, since in list(paused.items()):
            if h.clock.now() - since > timedelta(days=1):
                h.command("nudges resume", channel=channel)
                history.append(f"{channel}: resumed")
                del paused[channel]
        now = h.clock.now()
        expected = what_planning_everything_makes(h, now)
        before = keys(h)
        h.run_sweep()
        got = _changes(before, keys(h))
        # Health alerts are told when an engagement is looked at (a change, a reminder): they are
        # no part of the reminder plan this compares.
        got = ({k for k in got[0] if not k.startswith("health:")}, got[1])
        assert got == expected, (now.isoformat(), history[-3:])
        steps["created"] += len(got[0])
        steps["steps"] += 1
    # The scenario exercised what it is about: many steps, and every kind of reminder in every zone.
    with h.services.db.read() as session:
        made = Counter(
            (channel, kind)
            for channel, kind in session.exec(
                select(Engagement.channel_id, Reminder.kind).join(
                    Engagement, col(Engagement.id) == col(Reminder.engagement_id)
                )
            ).all()
        )
    assert steps["steps"] > 100 and steps["created"] > 50, steps
    assert all(
        made[(c, "nudge")] >= 1 and made[(c, "digest")] >= 3 and made[(c, "golive")] for c in channels
    ), str(sorted(made.items()))
    assert sum(n for (c, kind), n in made.items() if kind == "dryrun") >= 3, made
    assert not [t for c in channels for t in ephemeral_texts(h, LEAD.user_id, c) if "went wrong" in t]
