"""Issue 27, part 3: the playbook chosen by the deal. With GOLIVE_PLAYBOOKS_DIR, an engagement made
from a deal gets the most specific playbook its fields fit, with that playbook's conditional items;
it remembers it (`Engagement.playbook`), so the plan, `/golive plan` and the replan read that
playbook, not the deployment's default. An engagement started by hand keeps the default.

The deal intake (bot/deals) makes the engagement the way this test does: it chooses with
`playbook_for_deal`, starts it with the chosen playbook and the deal's fields, and stores the key.
Signed requests over real HTTP into the bot; its Web API calls answered by the stand-in.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.config import ConfigError, load_settings
from bot.engagement.lifecycle import build_start_options, start_engagement
from bot.engagement.rules import playbook_for_deal
from golive.app import load_playbook_dir
from sandbox.harness import CHANNEL, LEAD, VENDOR_TEAM, Harness
from storage.models import Engagement, EngagementPhase, Item
from tests.e2e.helpers import last_answer

ENTERPRISE = """\
name: Enterprise billing
when: {product: billing, tier: enterprise}
sizes:
  small: {min_weeks: 3, max_weeks: 5}
  medium: {min_weeks: 6, max_weeks: 10}
  enterprise: {min_weeks: 12, max_weeks: 20}
phases:
  - key: scoping
    name: Scoping
    share: 40
    items:
      - key: security_review
        title: Security review with the customer's CISO
        owner: customer
      - key: sso
        title: Set up single sign-on
        owner: vendor
        when: {region: [eu, null]}
  - key: rollout
    name: Rollout
    share: 60
    items:
      - key: rollout_plan
        title: Agree the rollout plan
        owner: vendor
        after: [sso]
fields: [region]
"""

BILLING = ENTERPRISE.replace("name: Enterprise billing", "name: Billing").replace(
    "when: {product: billing, tier: enterprise}", "when: {product: billing}"
)


@pytest.fixture
def playbooks_dir(tmp_path: Path) -> Path:
    d = tmp_path / "playbooks"
    d.mkdir()
    (d / "enterprise_billing.yaml").write_text(ENTERPRISE)
    (d / "billing.yaml").write_text(BILLING)
    return d


def make_from_deal(h: Harness, fields: dict[str, object]) -> Engagement:
    """What the deal intake does: choose, start with the chosen playbook and the fields, remember."""
    services = h.services
    key, playbook = playbook_for_deal(fields, services.playbooks, services.playbook)
    now = h.clock.now()
    opts = build_start_options(
        name="Acme Corp", size="medium", kickoff="2026-11-30", target=None, tz="Europe/Berlin",
        country=None, pilot=None, ingest=None, now=now, default_tz="UTC", playbook=playbook,
    )  # fmt: skip
    with services.db.session() as session:
        engagement = start_engagement(
            session, opts, playbook=playbook, team_id=VENDOR_TEAM, channel_id=CHANNEL,
            user_id=LEAD.user_id, user_name=LEAD.name, now=now, fields=json.dumps(fields),
        )  # fmt: skip
        engagement.playbook = key
        session.add(engagement)
        session.flush()
        session.expunge(engagement)
    return engagement


def titles(h: Harness) -> list[str]:
    with h.services.db.read() as session:
        return list(session.exec(select(Item.title).order_by(col(Item.id))).all())


def phase_ends(h: Harness) -> list[tuple[str, object]]:
    with h.services.db.read() as session:
        rows = session.exec(select(EngagementPhase).order_by(col(EngagementPhase.number))).all()
        return [(p.name, p.planned_end) for p in rows]


def test_a_deal_gets_the_most_specific_playbook_and_the_engagement_keeps_it(harness_factory, playbooks_dir):
    h = harness_factory(env={"GOLIVE_PLAYBOOKS_DIR": str(playbooks_dir)})
    assert sorted(h.services.playbooks) == ["billing", "enterprise_billing"]
    e = make_from_deal(h, {"product": "billing", "tier": "enterprise", "region": "us"})
    assert e.playbook == "enterprise_billing"
    assert [name for name, _end in phase_ends(h)] == ["Scoping", "Rollout"]
    # region us: no single sign-on, and the rollout plan waits for nothing instead of it.
    assert titles(h) == ["Security review with the customer's CISO", "Agree the rollout plan"]
    # The plan is the chosen playbook's: a replan moves its phases (the default playbook has no
    # phase called scoping: with it, nothing would move).
    before = phase_ends(h)
    h.command("plan size=enterprise")
    assert "Plan updated; 2 phases moved." in last_answer(h)
    after = phase_ends(h)
    assert after[-1][1] > before[-1][1], "enterprise is 12 to 20 weeks in this playbook"
    h.command("status")
    assert "Scoping" in last_answer(h)


def test_a_deal_no_playbook_fits_and_a_hand_start_get_the_default(harness_factory, playbooks_dir):
    h = harness_factory(env={"GOLIVE_PLAYBOOKS_DIR": str(playbooks_dir)})
    services = h.services
    assert playbook_for_deal({"product": "crm"}, services.playbooks, services.playbook) == (
        None,
        services.playbook,
    )
    assert playbook_for_deal({"product": "Billing"}, services.playbooks, services.playbook)[0] == "billing"
    h.command("start Beta Inc size=small kickoff=2026-11-30")
    with services.db.read() as session:
        beta = session.exec(select(Engagement).where(Engagement.customer_name == "Beta Inc")).one()
    assert beta.playbook is None and services.playbook_for(beta) is services.playbook
    # A key whose file is gone (renamed, removed) reads the default rather than failing every view.
    assert services.playbook_for(Engagement(playbook="enterprise_billing")).name == "Enterprise billing"
    assert services.playbook_for(Engagement(playbook="gone")) is services.playbook
    assert phase_ends(h)[0][0] == "Discovery"


def test_a_directory_with_a_tie_stops_the_bot_from_starting(tmp_path: Path, playbooks_dir):
    (playbooks_dir / "enterprise.yaml").write_text(
        ENTERPRISE.replace("when: {product: billing, tier: enterprise}", "when: {tier: enterprise}")
    )
    with pytest.raises(ConfigError, match="fits the same deals as"):
        load_playbook_dir(playbooks_dir)
    settings = load_settings(_env_file=None, GOLIVE_PLAYBOOKS_DIR=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="is not a directory"):
        load_playbook_dir(settings.golive_playbooks_dir)
