"""Who is on the project (issue 28, part 2): the lead is told privately, and only once, when a role
the playbook requires is empty after the kickoff, when a role's holder leaves the channel, and
when nobody on the customer's side has acted for five business days."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from sandbox.harness import APPROVER, CHANNEL, CONTRIBUTOR, LEAD
from storage.models import AuditEvent
from tests.e2e.helpers import blocks_text
from tests.e2e.test_checklist import tick
from tests.e2e.test_signoffs import mention


def lead_dms(h) -> list[str]:  # type: ignore[no-untyped-def]
    im = h.standin.im_channel(LEAD.user_id)
    return [(m.get("text") or "") + "\n" + blocks_text(m.get("blocks") or []) for m in h.standin.messages(im)]


def told(h) -> list[str]:  # type: ignore[no-untyped-def]
    with h.services.db.read() as session:
        return list(
            session.exec(select(AuditEvent.subject).where(AuditEvent.kind == "people.lead_told")).all()
        )


def test_an_empty_required_role_tells_the_lead_once_after_the_kickoff(harness):
    h = harness
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    h.run_sweep()  # kickoff day: nothing yet
    assert not [t for t in lead_dms(h) if "Nobody is named" in t]
    h.clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    h.run_sweep()
    empty = [t for t in lead_dms(h) if "Nobody is named" in t]
    assert len(empty) == 2, empty  # approver and main contact, the default playbook's required roles
    assert any("approver" in t and "role @person approver" in t for t in empty)
    assert any("main contact" in t and "role @person main_contact" in t for t in empty)
    h.clock.set(datetime(2026, 12, 1, 11, 0, tzinfo=UTC))
    h.run_sweep()
    assert len([t for t in lead_dms(h) if "Nobody is named" in t]) == 2  # told once
    assert sorted(k for k in told(h) if k.startswith("role_empty:")) == [
        "role_empty:approver",
        "role_empty:main_contact",
    ]


def test_a_role_holder_leaving_the_channel_tells_the_lead_once(harness):
    h = harness
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(APPROVER)} approver")
    h.driver.member_left_channel(APPROVER.user_id, CHANNEL)
    h.idle()
    left = [t for t in lead_dms(h) if "left the channel" in t]
    assert len(left) == 1, lead_dms(h)
    assert "approver" in left[0] and "role @person approver" in left[0]
    h.driver.member_left_channel(APPROVER.user_id, CHANNEL)  # the event again
    h.idle()
    assert len([t for t in lead_dms(h) if "left the channel" in t]) == 1
    h.driver.member_left_channel(CONTRIBUTOR.user_id, CHANNEL)  # holds no role: nothing to tell
    h.idle()
    assert len([t for t in lead_dms(h) if "left the channel" in t]) == 1


def test_five_silent_business_days_tell_the_lead_once(harness):
    h = harness
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    tick(h, "1.5", CONTRIBUTOR)  # Monday 30 Nov: the customer acts
    h.clock.set(datetime(2026, 12, 4, 9, 0, tzinfo=UTC))  # Friday: four business days since
    h.run_sweep()
    assert not [t for t in lead_dms(h) if "has ticked or decided" in t]
    h.clock.set(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))  # Monday: five
    h.run_sweep()
    silent = [t for t in lead_dms(h) if "has ticked or decided" in t]
    assert len(silent) == 1, lead_dms(h)
    assert "since 2026-11-30" in silent[0] and "Next step" in silent[0]
    h.clock.set(datetime(2026, 12, 8, 9, 0, tzinfo=UTC))
    h.run_sweep()
    assert len([t for t in lead_dms(h) if "has ticked or decided" in t]) == 1


def test_home_shows_the_customer_people_active_this_week(harness):
    from tests.e2e.test_home import open_home

    h = harness
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    text = blocks_text(open_home(h, LEAD)["view"]["blocks"])
    assert "0 customer people active this week" in text, text
    tick(h, "1.5", CONTRIBUTOR)
    text = blocks_text(open_home(h, LEAD)["view"]["blocks"])
    assert "1 customer person active this week" in text, text
    h.clock.set(datetime(2026, 12, 8, 9, 0, tzinfo=UTC))  # eight days later: not this week any more
    text = blocks_text(open_home(h, LEAD)["view"]["blocks"])
    assert "0 customer people active this week" in text, text


def test_the_checks_and_the_home_count_on_postgresql(harness_factory, pg_url):
    """The GROUP BY of the customer's last acts and the DISTINCT of Home's count are
    dialect-sensitive: the silence, the empty role and the count on PostgreSQL too."""
    from tests.e2e.test_home import open_home

    h = harness_factory(pg_url)
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    tick(h, "1.5", CONTRIBUTOR)
    assert "1 customer person active this week" in blocks_text(open_home(h, LEAD)["view"]["blocks"])
    h.clock.set(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    h.run_sweep()
    assert len([t for t in lead_dms(h) if "has ticked or decided" in t]) == 1, lead_dms(h)
    assert len([t for t in lead_dms(h) if "Nobody is named" in t]) == 2


def test_the_it_admin_is_given_in_the_team_form_listed_and_required_by_a_playbook(harness_factory, tmp_path):
    """The customer's IT admin (issue 28 §2) is a customer role like the others: a playbook that
    requires one tells the lead while it is empty; the team form gives it; the team list shows it."""
    from importlib import resources

    from sandbox.harness import SPONSOR

    text = resources.files("bot.engagement").joinpath("playbooks/default.yaml").read_text(encoding="utf-8")
    path = tmp_path / "it.yaml"
    path.write_text(text.replace("required_roles: [approver, main_contact]", "required_roles: [it_admin]"))
    h = harness_factory(env={"GOLIVE_PLAYBOOK": str(path)})
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    h.run_sweep()
    empty = [t for t in lead_dms(h) if "Nobody is named" in t]
    assert len(empty) == 1, lead_dms(h)
    assert "Nobody is named IT admin for Acme Corp" in empty[0] and "role @person it_admin" in empty[0]
    assert [k for k in told(h) if k.startswith("role_empty:")] == ["role_empty:it_admin"]

    h.command("team")
    listing = h.standin.ephemerals(channel=CHANNEL, user=LEAD.user_id)[-1]
    h.driver.click_ephemeral(CHANNEL, listing["ts"], "team_manage", user=LEAD.user_id)
    h.idle()
    [view] = h.standin.open_views(LEAD.user_id)
    options = [
        o["value"]
        for b in view["view"]["blocks"]
        if b.get("block_id") == "role"
        for o in b["element"]["options"]
    ]
    assert "it_admin" in options
    h.driver.click_view(
        view["id"], "value", block_id="person", selected_user=SPONSOR.user_id, user=LEAD.user_id
    )
    h.idle()
    r = h.driver.submit_view(
        view["id"], {"person": {"value": SPONSOR.user_id}, "role": {"value": "it_admin"}}, user=LEAD.user_id
    )
    assert r.json["response_action"] == "update", r.json
    form = blocks_text(h.standin.view(view["id"])["view"]["blocks"])
    assert "Sam Sponsor is now an IT admin" in form and "*IT admin*" in form, form
    h.idle()

    h.command("team")
    team = blocks_text(h.standin.ephemerals(channel=CHANNEL, user=LEAD.user_id)[-1]["blocks"])
    assert "IT admin" in team and SPONSOR.user_id in team, team
    named = [
        m
        for m in h.standin.messages(CHANNEL)
        if "you are named *IT admin*" in blocks_text(m.get("blocks") or [])
    ]
    assert len(named) == 1 and "come to you for access" in blocks_text(named[0]["blocks"])

    # Held now: the next check tells nothing more, and nothing about it is told twice.
    h.clock.set(datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    h.run_sweep()
    assert len([t for t in lead_dms(h) if "Nobody is named" in t]) == 1
