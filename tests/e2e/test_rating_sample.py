"""GOLIVE_RATINGS_SAMPLE: the share of gates whose approver is asked to rate them; the go-live is
asked whenever the share is above 0."""

from __future__ import annotations

from bot.engagement.ratings import sampled
from sandbox.harness import APPROVER, CHANNEL, CONTRIBUTOR, LEAD, SPONSOR
from tests.e2e.helpers import blocks_text, engagement, posts, request_signoff
from tests.e2e.test_ratings import asks, rating_rows, start
from tests.e2e.test_signoffs import approve, mention


def test_a_share_of_0_asks_nobody_on_approval(harness_factory):
    h = harness_factory(env={"GOLIVE_RATINGS_SAMPLE": "0"})
    start(h)  # Solution design approved by the approver
    assert not rating_rows(h) and not asks(h, APPROVER)


def test_a_share_of_1_asks_on_every_approval(harness_factory):
    h = harness_factory(env={"GOLIVE_RATINGS_SAMPLE": "1"})
    start(h)
    assert [r.milestone for r in rating_rows(h)] == ["solution_design"]
    assert len(asks(h, APPROVER)) == 1


def test_a_gate_left_out_of_the_sample_is_not_asked_and_does_not_start_the_cooldown(harness_factory):
    share = 0.5
    h = harness_factory(env={"GOLIVE_RATINGS_SAMPLE": str(share)})
    engagement_id = 1  # the first engagement of a fresh database
    assert sampled(engagement_id, "solution_design", share) != sampled(
        engagement_id, "integration_workflows", share
    ), "the test wants one gate in the sample and one out"
    start(h)
    assert engagement(h).id == engagement_id
    request_signoff(h, "integration_workflows")
    approve(h, "integration_workflows", APPROVER)
    # Only the sampled gate was asked (both approved the same day: the one out wrote no ask, so it
    # could not have started a cooldown that kept the other from being asked).
    expected = [g for g in ("solution_design", "integration_workflows") if sampled(engagement_id, g, share)]
    assert [r.milestone for r in rating_rows(h)] == expected
    assert len(asks(h, APPROVER)) == 1


def go_live(h) -> None:
    from tests.e2e.test_lifecycle import walk_to_final_approval

    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    h.command(f"role {mention(APPROVER)} approver")
    h.command(f"role {mention(SPONSOR)} sponsor")
    walk_to_final_approval(h)
    [cutover] = [m for m in posts(h) if "Final approval recorded" in m["text"]]
    h.driver.click(CHANNEL, cutover["ts"], "golive_confirm", user=LEAD.user_id)
    h.idle()
    for form in [
        v for v in h.standin.open_views(LEAD.user_id) if v["view"]["callback_id"] == "golive_confirm"
    ]:
        h.driver.submit_view(form["id"], {}, user=LEAD.user_id)
        h.idle()
    assert engagement(h).status == "live"


def test_the_go_live_is_asked_whatever_the_share_above_0(harness_factory):
    h = harness_factory(env={"GOLIVE_RATINGS_SAMPLE": "0.0001"})
    go_live(h)
    gates = ("discovery_complete", "solution_design", "integration_workflows", "uat_signoff")
    assert not any(sampled(1, g, 0.0001) for g in gates)  # no gate is in so small a sample
    assert [r.milestone for r in rating_rows(h)] == ["golive"]
    assert "How did the go-live of Acme Corp go?" in blocks_text(asks(h, APPROVER)[-1]["blocks"])


def test_a_share_of_0_does_not_ask_at_the_go_live_either(harness_factory):
    h = harness_factory(env={"GOLIVE_RATINGS_SAMPLE": "0"})
    go_live(h)
    assert not rating_rows(h) and not asks(h, APPROVER)
