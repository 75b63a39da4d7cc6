"""Playbook `when:` rules (issue 27, part 3): matching a deal's fields, the items and gates an
engagement gets, what an item waits for when its prerequisite is left out, choosing one of several
playbooks, and `golive playbook check` on rules and on a directory."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from bot.engagement.dependencies import prerequisites
from bot.engagement.lifecycle import build_start_options, start_engagement
from bot.engagement.playbook import Conditions, PlaybookError, default_playbook, parse_playbook
from bot.engagement.playbook_check import rule_findings
from bot.engagement.rules import (
    PlaybookChoiceError,
    choose_playbook,
    effective_after,
    engagement_fields,
)
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Engagement, Gate, Item

RULES = """\
name: Rules
fields: [region]
sizes:
  small: {min_weeks: 1, max_weeks: 2}
  medium: {min_weeks: 2, max_weeks: 4}
  enterprise: {min_weeks: 4, max_weeks: 8}
phases:
  - key: one
    name: One
    share: 60
    items:
      - key: kickoff
        title: Kick off
        owner: vendor
      - key: billing_setup
        title: Set up billing
        owner: vendor
        after: [kickoff]
        when: {product: [billing, payments]}
      - key: billing_review
        title: Review billing
        owner: customer
        after: [billing_setup]
      - key: sso
        title: Single sign-on
        owner: customer
        when: {tier: enterprise, size: [medium, enterprise]}
      - key: eu_hosting
        title: EU hosting
        owner: vendor
        when: {region: [eu, null]}
  - key: two
    name: Two
    share: 40
    items:
      - key: wrap_up
        title: Wrap up
        owner: vendor
gates:
  - key: sso_gate
    phase: one
    title: SSO approved
    when: {tier: enterprise}
"""


def rules(**changes: str) -> str:
    text = RULES
    for old, new in changes.items():
        assert old in text
        text = text.replace(old, new)
    return text


# -- matching ---------------------------------------------------------------------------------


def when(mapping: dict[str, object]) -> Conditions:
    return Conditions.model_validate(mapping)


def test_every_field_must_match_and_a_list_is_any_of():
    rule = when({"product": ["billing", "payments"], "tier": "enterprise"})
    assert rule.matches({"product": "payments", "tier": "enterprise"})
    assert not rule.matches({"product": "payments", "tier": "growth"}), "and: tier must match too"
    assert not rule.matches({"product": "crm", "tier": "enterprise"})


def test_values_compare_without_case_spaces_or_type():
    assert when({"tier": "enterprise"}).matches({"tier": " Enterprise "})
    assert when({"pilot": True}).matches({"pilot": "true"}), "CRMs send booleans as text"
    assert when({"seats": 100}).matches({"seats": 100.0})
    assert not when({"seats": 100}).matches({"seats": 1000})


def test_a_missing_field_matches_only_a_rule_that_lists_null():
    assert not when({"product": "billing"}).matches({})
    assert not when({"product": "billing"}).matches({"product": ""}), "empty text is no value"
    assert when({"product": ["billing", None]}).matches({})
    assert not when({"product": ["billing", None]}).matches({"product": "crm"})


def test_a_multi_valued_field_matches_when_any_of_its_values_does():
    assert when({"product": "billing"}).matches({"product": ["crm", "Billing"]})
    assert not when({"product": "billing"}).matches({"product": ["crm"]})


def test_an_engagements_fields_are_its_deals_with_its_own_settings_over_them():
    e = Engagement(
        size="small", pilot=True, ingest="api", country="DE", fields='{"tier": "growth", "size": "x"}'
    )
    assert engagement_fields(e) == {
        "tier": "growth",
        "size": "small",
        "pilot": True,
        "ingest": "api",
        "country": "DE",
    }
    by_hand = Engagement(size="medium", pilot=False, ingest="warehouse", country=None, fields=None)
    assert engagement_fields(by_hand)["pilot"] is False and "product" not in engagement_fields(by_hand)


# -- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "path", "message"),
    [
        (
            "{tier: enterprise, size",
            "{tyre: enterprise, size",
            "phases.0.items.3.when",
            "`tyre`, which golive does not know",
        ),
        ("{region: [eu, null]}", "{}", "phases.0.items.4.when", "is empty"),
        ("when: {region: [eu, null]}", "when:", "phases.0.items.4.when", "is empty"),
        ("{region: [eu, null]}", "{region: []}", "phases.0.items.4.when", "region: [] matches nothing"),
        (
            "size: [medium, enterprise]",
            "size: [medium, huge]",
            "phases.0.items.3.when",
            "'huge' is not a value it takes",
        ),
        (
            "    share: 40\n",
            "    share: 40\n    when: {tier: enterprise}\n",
            "phases.1.when",
            "names only pilot and ingest",
        ),
        ("fields: [region]\n", "", "phases.0.items.4.when", "`region`, which golive does not know"),
    ],
)
def test_rule_mistakes_are_refused_with_their_line(old, new, path, message):
    text = rules(**{old: new})
    with pytest.raises(PlaybookError) as exc:
        parse_playbook(text)
    [problem] = exc.value.problems
    assert problem.path == path and message in problem.message
    assert problem.line is not None and problem.line > 1


# -- dependencies ---------------------------------------------------------------------------------


def test_a_left_out_item_passes_on_what_it_waited_for():
    pb = parse_playbook(RULES)
    present = {"kickoff", "billing_review", "sso", "eu_hosting", "wrap_up"}
    after = effective_after(pb, present)
    assert after["billing_review"] == ("kickoff",), (
        "billing_setup is left out: its prerequisite takes its place"
    )
    assert after["kickoff"] == ()
    assert effective_after(pb, present | {"billing_setup"})["billing_review"] == ("billing_setup",)


def test_through_several_left_out_items_and_without_duplicates():
    text = rules(
        **{
            "      - key: billing_review\n": "      - key: billing_check\n        title: Check\n        owner: vendor\n"
            "        after: [billing_setup, kickoff]\n        when: {product: billing}\n      - key: billing_review\n",
            "after: [billing_setup]": "after: [billing_check, kickoff]",
        }
    )
    after = effective_after(parse_playbook(text), {"kickoff", "billing_review"})
    assert after["billing_review"] == ("kickoff",)


# -- the engagement gets what its fields choose -----------------------------------------------


NOW = datetime(2026, 12, 7, 9, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'rules.sqlite3'}"
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


def _start_with_fields(db: Database, channel: str, fields: dict[str, object] | None, size: str = "medium"):
    """Start an engagement with the deal's fields as the deal intake does (start_engagement's
    `fields`, set before the items are made); what it got."""
    pb = parse_playbook(RULES)
    opts = build_start_options(
        name="Acme", size=size, kickoff="2026-12-07", target=None, tz="UTC", country=None,
        pilot=None, ingest=None, now=NOW, default_tz="UTC",
    )  # fmt: skip
    with db.session() as session:
        e = start_engagement(
            session, opts, playbook=pb, team_id="T0VENDOR", channel_id=channel,
            user_id="U0LEAD", user_name="Lena", now=NOW,
            fields=json.dumps(fields) if fields is not None else None,
        )  # fmt: skip
        items = list(session.exec(select(Item).where(Item.engagement_id == e.id).order_by(Item.id)))
        gates = [g.key for g in session.exec(select(Gate).where(Gate.engagement_id == e.id))]
        by_id = {i.id: i.key for i in items}
        deps = prerequisites(session, e.id)  # type: ignore[arg-type]
        return {
            "items": [i.key for i in items],
            "numbers": [i.number for i in items],
            "gates": gates,
            "after": {by_id[k]: sorted(by_id[r] for r in v) for k, v in deps.items()},
        }


def test_a_deals_fields_choose_the_items_and_gates(db: Database):
    got = _start_with_fields(db, "C0DEAL", {"product": "Billing", "tier": "enterprise", "region": "us"})
    assert got["items"] == ["kickoff", "billing_setup", "billing_review", "sso", "wrap_up"]
    assert got["numbers"] == [1, 2, 3, 4, 1], "numbered without gaps, per phase"
    assert got["gates"] == ["sso_gate"]
    assert got["after"] == {"billing_setup": ["kickoff"], "billing_review": ["billing_setup"]}


def test_an_engagement_started_by_hand_gets_only_unconditional_items_and_null_rules(db: Database):
    got = _start_with_fields(db, "C0HAND", None)
    assert got["items"] == ["kickoff", "billing_review", "eu_hosting", "wrap_up"]
    assert got["gates"] == []
    assert got["after"] == {"billing_review": ["kickoff"]}, "the chain holds without billing_setup"


def test_the_engagements_size_decides_over_the_deals(db: Database):
    got = _start_with_fields(db, "C0SMALL", {"tier": "enterprise", "size": "enterprise"}, size="small")
    assert "sso" not in got["items"], "sso needs a medium or enterprise engagement; this one is small"


# -- choosing a playbook ------------------------------------------------------------------------


def named(name: str, rule: str | None) -> object:
    text = RULES.replace("name: Rules", f"name: {name}" + (f"\nwhen: {rule}" if rule else ""))
    return parse_playbook(text)


def test_the_most_specific_matching_playbook_wins_and_none_gives_the_default():
    billing = named("Billing", "{product: billing}")
    enterprise_billing = named("Enterprise billing", "{product: billing, tier: enterprise}")
    crm = named("CRM", "{product: crm}")
    fallback = named("Everything else", None)
    books = [billing, enterprise_billing, crm, fallback]
    default = default_playbook()
    assert choose_playbook({"product": "billing", "tier": "enterprise"}, books, default) is enterprise_billing
    assert choose_playbook({"product": "billing", "tier": "growth"}, books, default) is billing
    assert choose_playbook({"product": "payroll"}, books, default) is fallback
    assert choose_playbook({"product": "payroll"}, [billing, crm], default) is default
    assert choose_playbook({}, [], default) is default


def test_two_playbooks_fitting_a_deal_equally_well_are_an_error():
    a, b = named("Billing", "{product: billing}"), named("Enterprise", "{tier: enterprise}")
    with pytest.raises(PlaybookChoiceError, match=r"Billing\).*Enterprise\)"):
        choose_playbook({"product": "billing", "tier": "enterprise"}, [a, b], default_playbook())
    assert choose_playbook({"product": "billing", "tier": "growth"}, [a, b], default_playbook()) is a


# -- the check ----------------------------------------------------------------------------------


def test_check_finds_items_that_never_apply_and_dependencies_that_never_hold():
    text = rules(
        **{
            "    share: 40\n": "    share: 40\n    when: {pilot: true}\n",
            "      - key: wrap_up\n        title: Wrap up\n        owner: vendor\n": "      - key: wrap_up\n"
            "        title: Wrap up\n        owner: vendor\n        when: {pilot: false}\n      - key: close\n"
            "        title: Close\n        owner: vendor\n        after: [sso]\n        when: {tier: growth}\n",
        }
    )
    problems, notes = rule_findings(parse_playbook(text), text)
    messages = [(p.path, p.message) for p in problems]
    assert (
        "phases.1.items.0.when",
        "item `wrap_up` can never apply: its when: contradicts its phase's (pilot is true)",
    ) in messages
    assert any(path == "phases.1.items.1.after.0" and "never apply together" in m for path, m in messages)
    assert all(p.line for p in problems)
    [note] = notes
    assert note.path == "phases.0.items.2.after.0" and "billing_setup" in note.message
    assert "waits for `kickoff`" in note.message


def run_check(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "golive.cli", "playbook", "check", *map(str, paths)],
        capture_output=True,
        text=True,
    )


def test_cli_check_prints_each_rule_problem_with_file_and_item_and_exits_1(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text(rules(**{"when: {product: [billing, payments]}": "when: {product: billing, tier: growth}",
                             "when: {tier: enterprise, size": "when: {tier: [enterprise], prodct: x, size"}))  # fmt: skip
    r = run_check(path)
    assert r.returncode == 1
    [line] = r.stderr.strip().splitlines()
    assert line.startswith(f"{path}:") and "phases.0.items.3.when" in line and "`prodct`" in line


def test_cli_check_passes_with_a_summary_and_notes(tmp_path: Path):
    path = tmp_path / "good.yaml"
    path.write_text(rules(**{"name: Rules": "name: Rules\nwhen: {tier: [growth, enterprise]}"}))
    r = run_check(path)
    assert r.returncode == 0, r.stderr
    assert (
        f"{path}: ok — 2 phases, 6 items, 3 of them with a when:, 1 gates; for deals where tier is enterprise or growth"
        in r.stdout
    )
    assert "note: phases.0.items.2.after.0: item `billing_review` comes after `billing_setup`" in r.stdout


def test_cli_check_on_a_directory_finds_playbooks_that_fit_the_same_deal(tmp_path: Path):
    (tmp_path / "a_billing.yaml").write_text(
        rules(**{"name: Rules": "name: Billing\nwhen: {product: billing}"})
    )
    (tmp_path / "b_enterprise.yaml").write_text(
        rules(**{"name: Rules": "name: Ent\nwhen: {tier: enterprise}"})
    )
    (tmp_path / "c_payments.yaml").write_text(
        rules(**{"name: Rules": "name: Payments EU\nwhen: {product: payments, region: eu}"})
    )
    (tmp_path / "d_default.yaml").write_text(RULES)
    (tmp_path / "notes.txt").write_text("not a playbook")
    r = run_check(tmp_path)
    assert r.returncode == 1
    [line] = r.stderr.strip().splitlines()
    assert line.startswith(f"{tmp_path / 'b_enterprise.yaml'}:2: when: fits the same deals as a_billing.yaml")
    assert "product is billing and tier is enterprise" in line, "an example deal that gets either"
    (tmp_path / "b_enterprise.yaml").write_text(
        rules(**{"name: Rules": "name: Ent\nwhen: {tier: enterprise, product: billing}"})
    )
    r = run_check(tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(": ok — ") == 4


def test_cli_check_refuses_two_defaults_in_a_directory(tmp_path: Path):
    (tmp_path / "a.yaml").write_text(RULES)
    (tmp_path / "b.yaml").write_text(RULES.replace("name: Rules", "name: Other"))
    r = run_check(tmp_path)
    assert r.returncode == 1 and "has no when:, like a.yaml" in r.stderr
