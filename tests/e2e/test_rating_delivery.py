"""Issue 28, part 1: a rating ask or a low-rating alert that Slack did not take is not lost.

The ask is written with the approval and sent after the commit; when Slack refuses it (or the
process dies first), the sweep sends it once Slack takes it again, once, and never two processes
both (`bot.reminders.rating_delivery`)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.reminders.sweep import Sweeper
from sandbox.harness import APPROVER, LEAD
from tests.e2e.helpers import request_signoff
from tests.e2e.test_ratings import asks, dm_texts, rate, rating_rows, start
from tests.e2e.test_signoffs import approve, finish_phase, mention


def low_alerts(h) -> list[str]:
    return [t for t in dm_texts(h, LEAD) if "Low rating" in t]


def test_an_ask_slack_refused_is_sent_by_the_sweep_once_slack_takes_it(harness):
    h = harness
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(APPROVER)} approver")
    finish_phase(h, 1, 6)
    finish_phase(h, 2, 9)
    request_signoff(h, "solution_design")
    # Slack refuses the ephemeral; the DM is refused too (the approver's organisation allows none).
    h.standin.fail_next("chat.postEphemeral", error="fatal_error")
    approve(h, "solution_design", APPROVER)
    [row] = rating_rows(h)
    assert row.score is None and row.ask_sent_at is None
    assert not asks(h, APPROVER)
    # Within the grace the sweep leaves it alone (the path after the commit may still be sending).
    h.clock.advance(timedelta(minutes=1))
    h.run_sweep()
    assert not asks(h, APPROVER)
    # Then it is asked, once: Slack takes it now.
    h.clock.advance(timedelta(minutes=2))
    h.run_sweep()
    [ask] = asks(h, APPROVER)
    assert "How did Solution design sign-off go?" in str(ask["blocks"])
    [row] = rating_rows(h)
    assert row.ask_sent_at == h.clock.now()
    h.clock.advance(timedelta(minutes=10))
    h.run_sweep()
    Sweeper(h.services, worker="another").run(h.clock.now())
    assert len(asks(h, APPROVER)) == 1
    # The ask the sweep sent is rated like any other.
    rate(h, ask, 5)
    assert rating_rows(h)[0].score == 5


def test_a_refused_ask_is_tried_again_after_its_lease_and_given_up_after_two_days(harness):
    h = harness
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(APPROVER)} approver")
    finish_phase(h, 1, 6)
    finish_phase(h, 2, 9)
    request_signoff(h, "solution_design")
    h.standin.fail_next("chat.postEphemeral", error="fatal_error", times=2)
    approve(h, "solution_design", APPROVER)
    tries = lambda: len([c for c in h.standin.calls if c.method == "chat.postEphemeral"])  # noqa: E731
    before = tries()
    h.clock.advance(timedelta(minutes=3))
    h.run_sweep()  # refused again: the lease keeps the next sweeps off it for a while
    assert tries() == before + 1 and not asks(h, APPROVER)
    for _ in range(3):
        h.clock.advance(timedelta(minutes=1))
        h.run_sweep()
    assert tries() == before + 1
    # Two days on, it is not sent any more (a late ask is noise), though Slack would take it.
    h.clock.advance(timedelta(days=2))
    h.run_sweep()
    assert tries() == before + 1 and not asks(h, APPROVER)
    assert rating_rows(h)[0].ask_sent_at is None


def test_an_ask_of_a_gate_no_longer_approved_is_not_sent(harness):
    """Valid still: an ask whose gate was reopened meanwhile is dropped, not sent late."""
    from sqlmodel import select

    from storage.models import Gate

    h = harness
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(APPROVER)} approver")
    finish_phase(h, 1, 6)
    finish_phase(h, 2, 9)
    request_signoff(h, "solution_design")
    h.standin.fail_next("chat.postEphemeral", error="fatal_error")
    approve(h, "solution_design", APPROVER)
    with h.services.db.session() as session:
        gate = session.exec(select(Gate).where(Gate.key == "solution_design")).one()
        gate.status = "pending"
        session.add(gate)
    h.clock.advance(timedelta(minutes=3))
    h.run_sweep()
    assert not asks(h, APPROVER)
    assert rating_rows(h)[0].ask_sent_at is None


def test_a_low_rating_the_lead_was_not_told_of_is_told_by_the_sweep_once(harness):
    h = harness
    start(h)
    [ask] = asks(h, APPROVER)
    assert rating_rows(h)[0].ask_sent_at is not None  # the path after the commit wrote it down
    h.standin.fail_next("conversations.open", error="fatal_error")  # the DM to the lead fails
    rate(h, ask, 2, "Slow answers")
    [row] = rating_rows(h)
    assert row.score == 2 and row.lead_told_at is None
    assert not low_alerts(h)
    h.clock.advance(timedelta(minutes=3))
    h.run_sweep()
    [alert] = low_alerts(h)
    assert "rated *2 of 5*" in alert and "Slow answers" in alert
    assert f"<@{APPROVER.user_id}>" in alert
    assert rating_rows(h)[0].lead_told_at == h.clock.now()
    h.clock.advance(timedelta(minutes=10))
    h.run_sweep()
    Sweeper(h.services, worker="another").run(h.clock.now())
    assert len(low_alerts(h)) == 1


def test_the_lead_told_at_once_is_not_told_again(harness):
    h = harness
    start(h)
    [ask] = asks(h, APPROVER)
    rate(h, ask, 1, "Bad")
    assert len(low_alerts(h)) == 1
    assert rating_rows(h)[0].lead_told_at is not None
    h.clock.advance(timedelta(minutes=3))
    h.run_sweep()
    assert len(low_alerts(h)) == 1


def test_anonymous_low_ratings_told_by_the_sweep_do_not_name_the_person(harness_factory):
    h = harness_factory(env={"GOLIVE_RATINGS_ANONYMOUS": "true"})
    start(h)
    [ask] = asks(h, APPROVER)
    h.standin.fail_next("conversations.open", error="fatal_error")
    rate(h, ask, 1, "Too slow")
    h.clock.advance(timedelta(minutes=3))
    h.run_sweep()
    [alert] = low_alerts(h)
    assert "Too slow" in alert and APPROVER.user_id not in alert and APPROVER.name not in alert


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_sweeps_at_once_send_a_refused_ask_once(harness_factory, request, backend):
    """Two processes sharing the database sweep at the same moment: the lease lets one send."""
    from concurrent.futures import ThreadPoolExecutor

    h = harness_factory(request.getfixturevalue("pg_url") if backend == "postgresql" else None)
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(APPROVER)} approver")
    finish_phase(h, 1, 6)
    finish_phase(h, 2, 9)
    request_signoff(h, "solution_design")
    h.standin.fail_next("chat.postEphemeral", error="fatal_error")
    approve(h, "solution_design", APPROVER)
    assert not asks(h, APPROVER)
    h.clock.advance(timedelta(minutes=3))
    h.idle()
    now = h.clock.now()
    sweepers = [Sweeper(h.services, worker=f"w{n}") for n in range(2)]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda s: s.run(now), sweepers))
    assert len(asks(h, APPROVER)) == 1


def test_an_ask_another_process_holds_is_left_to_it_until_its_lease_runs_out(harness):
    """A process took the ask and died mid-send: the others leave it until the lease runs out."""
    from bot.reminders import rating_delivery
    from storage.models import Rating

    h = harness
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(APPROVER)} approver")
    finish_phase(h, 1, 6)
    finish_phase(h, 2, 9)
    request_signoff(h, "solution_design")
    h.standin.fail_next("chat.postEphemeral", error="fatal_error")
    approve(h, "solution_design", APPROVER)
    h.clock.advance(timedelta(minutes=3))
    [row] = rating_rows(h)
    unsent = Rating.ask_sent_at.is_(None)  # type: ignore[union-attr]
    assert rating_delivery._take(h.services, row.id, unsent, h.clock.now())
    assert not rating_delivery._take(h.services, row.id, unsent, h.clock.now())  # held: not taken twice
    h.run_sweep()
    assert not asks(h, APPROVER)
    h.clock.advance(rating_delivery.LEASE)
    h.run_sweep()
    assert len(asks(h, APPROVER)) == 1
