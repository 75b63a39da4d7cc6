"""Views that never go back in time (issue 25, part 2), end to end through the stand-in.

views.publish and views.update send the hash of the view they replace; Slack (the stand-in)
answers `hash_conflict` when another write landed since. The App Home then publishes the newest
state from the database; a late update of My tasks never replaces a form the person opened since,
nor a newer My tasks.
"""

from __future__ import annotations

import threading
from typing import Any

from slack_sdk import WebClient
from sqlmodel import select

import handlers.tasks as tasks_handlers
from bot.slack.home import HomeJob, home_view
from bot.slack.sending import Entry, Sending
from sandbox.harness import APPROVER, BOT_TOKEN, CHANNEL, LEAD, Persona
from storage.models import Engagement, HomeViewer, Item, SignoffRequest
from tests.e2e.helpers import blocks_text, request_signoff, welcomes

SLOW = 1.6  # seconds Slack takes to answer; the bot's client gives up after 1


def open_home(h: Any, who: Persona) -> dict[str, Any]:
    h.driver.app_home_opened(who.user_id)
    h.idle()
    home = h.standin.home(who.user_id)
    assert home is not None, f"no Home published for {who.name}"
    return home


def stored_hash(h: Any, who: Persona) -> str | None:
    with h.services.db.read() as session:
        row = session.get(HomeViewer, who.user_id)
    return row.view_hash if row is not None else None


def rename_customer(h: Any, name: str) -> None:
    """A change to the engagement, committed: the Home shows the customer's name on its card."""
    with h.services.db.session() as session:
        engagement = session.exec(select(Engagement)).one()
        engagement.customer_name = name
        session.add(engagement)


def newest(h: Any, who: Persona) -> list[dict[str, Any]]:
    """The Home's blocks as the database says now."""
    return home_view(h.services, who.user_id)["blocks"]


def answers(h: Any, method: str) -> list[str]:
    return [c.response.get("error") or "ok" for c in h.standin.calls_to(method)]


# -- App Home ------------------------------------------------------------------------------------
def test_a_slower_publish_is_refused_for_its_stale_hash_and_the_newest_home_is_published(small, monkeypatch):
    """Two processes publish the same person's Home: the one that rendered first publishes last.
    Slack refuses its hash, and it reads the hash and the database again: the newest Home stays."""
    h = small
    first = open_home(h, LEAD)
    assert stored_hash(h, LEAD) == first["hash"]
    gateway = h.bot.outbox.slack
    real = gateway.publish_home
    rendered_before: list[str] = []

    def slower(user: str, view: dict[str, Any], *, view_hash: str | None = None) -> str:
        if not rendered_before:  # this publish rendered its Home already, and is slow to send it
            rendered_before.append(blocks_text(view["blocks"]))
            rename_customer(h, "Acme Holdings")  # meanwhile the engagement changes,
            other = HomeJob(h.services, user)  # and another replica publishes its refresh first
            other.run(Sending(h.bot.outbox, Entry(other, 0), inline=True))
        return real(user, view, view_hash=view_hash)

    monkeypatch.setattr(gateway, "publish_home", slower)
    h.standin.reset_calls()
    h.driver.app_home_opened(LEAD.user_id)
    h.idle()

    assert "*Acme Corp*" in rendered_before[0], "the slow one had rendered the Home before the change"
    calls = h.standin.calls_to("views.publish")
    assert answers(h, "views.publish") == ["ok", "hash_conflict", "ok"]
    other, refused, retried = calls
    assert other.args["hash"] == first["hash"] and refused.args["hash"] == first["hash"]
    assert retried.args["hash"] == other.response["view"]["hash"], "published over the other replica's Home"
    home = h.standin.home(LEAD.user_id)
    assert home["view"]["blocks"] == newest(h, LEAD)
    assert "*Acme Holdings*" in blocks_text(home["view"]["blocks"])
    assert stored_hash(h, LEAD) == home["hash"]


def test_a_publish_whose_answer_was_lost_is_retried_and_ends_with_the_newest_home(harness_factory):
    """The outbox sends a publish again when Slack's answer never came, but the first one had
    landed: its hash is known to no process. Refused, the job waits once for a process to store
    it, then publishes the newest Home without a hash."""
    h = harness_factory(env={"GOLIVE_SLACK_TIMEOUT": "1"})
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    first = open_home(h, LEAD)
    h.standin.reset_calls()
    h.standin.set_latency("views.publish", SLOW)
    rename_customer(h, "Acme Holdings")
    h.driver.command(h.services.command, "done 1.1", user=LEAD.user_id, channel=CHANNEL)  # refreshes the Home
    h.standin.wait_for(lambda: h.standin.calls_to("views.publish"), message="the slow publish")
    h.standin.set_latency("views.publish", 0)
    h.idle(timeout=20)

    calls, said = h.standin.calls_to("views.publish"), answers(h, "views.publish")
    assert said[0] == "ok" and calls[0].args["hash"] == first["hash"], "landed, but its answer was lost"
    assert said.count("hash_conflict") == 1
    refused = said.index("hash_conflict")
    assert calls[refused].args["hash"] == first["hash"], "sent again with the hash it had"
    assert said[refused + 1] == "ok" and "hash" not in calls[refused + 1].args, (
        "no process knows the Home's hash: published over it"
    )
    home = h.standin.home(LEAD.user_id)
    assert home["view"]["blocks"] == newest(h, LEAD)
    assert "*Acme Holdings*" in blocks_text(home["view"]["blocks"])
    assert stored_hash(h, LEAD) == home["hash"]


def test_the_hash_app_home_opened_carries_is_used_when_the_stored_one_is_stale(small):
    """A replica published and died before storing the hash: the next app_home_opened says the
    Home's hash, and the publish it asks for uses it after the stored one is refused."""
    h = small
    open_home(h, LEAD)
    stale = stored_hash(h, LEAD)
    WebClient(base_url=h.standin.api_url, token=BOT_TOKEN).views_publish(
        user_id=LEAD.user_id, view=h.standin.home(LEAD.user_id)["view"]
    )
    told = h.standin.home(LEAD.user_id)["hash"]
    assert told != stale
    rename_customer(h, "Acme Holdings")
    h.standin.reset_calls()
    home = open_home(h, LEAD)

    calls = h.standin.calls_to("views.publish")
    assert answers(h, "views.publish") == ["hash_conflict", "ok"]
    assert calls[0].args["hash"] == stale and calls[1].args["hash"] == told
    assert home["view"]["blocks"] == newest(h, LEAD)
    assert stored_hash(h, LEAD) == home["hash"]


# -- My tasks ------------------------------------------------------------------------------------
class HeldLinks:
    """Holds My tasks' first look-up of the requests' links (the slow part before its update)
    until released, so the person can click in the modal meanwhile."""

    def __init__(self, monkeypatch: Any) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        self.calls = 0
        real = tasks_handlers._links

        def held(services: Any, requests: Any) -> dict[int, str]:
            self.calls += 1
            if self.calls == 1:
                self.entered.set()
                assert self.release.wait(10)
            return real(services, requests)

        monkeypatch.setattr(tasks_handlers, "_links", held)


def open_my_tasks_held(h: Any, held: HeldLinks, who: Persona) -> dict[str, Any]:
    """Click My tasks; the modal as it opened, its completion held back."""
    assert h.driver.click(CHANNEL, welcomes(h)[0]["ts"], "my_tasks", user=who.user_id).status == 200
    assert held.entered.wait(10)
    [view] = h.standin.wait_for(lambda: h.standin.open_views(who.user_id), message="My tasks open")
    return view


def action(view: dict[str, Any], prefix: str) -> str:
    return next(
        el["action_id"]
        for b in view["view"]["blocks"]
        for el in b.get("elements", [])
        if str(el.get("action_id", "")).startswith(prefix)
    )


def test_my_tasks_late_update_leaves_the_request_changes_form_opened_since(small, monkeypatch):
    h = small
    request_signoff(h, "solution_design")
    held = HeldLinks(monkeypatch)
    tasks = open_my_tasks_held(h, held, APPROVER)
    h.driver.click_view(tasks["id"], action(tasks, "tasks_changes:"), user=APPROVER.user_id)
    h.standin.wait_for(lambda: len(h.standin.open_views(APPROVER.user_id)) == 2, message="the form pushed")
    held.release.set()  # now My tasks' late update (time zone, links) goes
    h.idle()

    stack = h.standin.open_views(APPROVER.user_id)
    assert len(stack) == 2 and stack[0]["id"] == tasks["id"]
    form = stack[-1]  # what the approver sees: the form
    assert form["view"]["callback_id"] == "tasks_changes"
    assert form["view"]["title"]["text"] == "Request changes"
    assert [c.args["view_id"] for c in h.standin.calls_to("views.update")] == [tasks["id"]]

    h.driver.submit_view(form["id"], {"reason": {"value": "Add the EMEA entity"}}, user=APPROVER.user_id)
    h.idle()
    with h.services.db.read() as session:
        request = session.exec(select(SignoffRequest)).one()
    assert request.status == "changes_requested"
    [shown] = h.standin.open_views(APPROVER.user_id)  # the form closed: My tasks, up to date
    assert shown["id"] == tasks["id"]
    text = blocks_text(shown["view"]["blocks"])
    assert ":memo: You requested changes to Solution design sign-off" in text
    assert "Sign-offs waiting on you" not in text


def test_my_tasks_late_update_does_not_replace_a_newer_my_tasks(small, monkeypatch):
    """Done clicked while My tasks was still being completed: its answer ("is done") stays; the
    completion rendered for the modal as it opened is refused for its hash."""
    h = small
    request_signoff(h, "solution_design")
    held = HeldLinks(monkeypatch)
    tasks = open_my_tasks_held(h, held, APPROVER)
    done = action(tasks, "tasks_done:")
    h.driver.click_view(tasks["id"], done, user=APPROVER.user_id)
    h.standin.wait_for(
        lambda: "is done" in blocks_text(h.standin.view(tasks["id"])["view"]["blocks"]), message="Done shown"
    )
    held.release.set()
    h.idle()

    assert "hash_conflict" in answers(h, "views.update"), "the late update was refused"
    text = blocks_text(h.standin.view(tasks["id"])["view"]["blocks"])
    item_id = int(done.split(":")[1])
    with h.services.db.read() as session:
        item = session.get(Item, item_id)
    assert item is not None and item.status == "done"
    assert f":white_check_mark: 1.{item.number} " in text and "is done" in text


# -- an item's Details ---------------------------------------------------------------------------
def test_mark_done_answered_late_leaves_the_waits_for_form_opened_since(small, monkeypatch):
    """Mark done in Details, then Waits for… before Mark done's answer came: Details is the form
    the person asked for last, and stays it; the tick is recorded and the checklist shows it."""
    import handlers.checklist_menu as menu_handlers
    from tests.e2e.test_checklist import checklist_msg, item, menu

    h = small
    release = threading.Event()
    real = menu_handlers.mark_done

    def slow(req: Any, item_id: int) -> str | None:
        assert release.wait(10)
        return real(req, item_id)

    monkeypatch.setattr(menu_handlers, "mark_done", slow)
    four = item(h, "1.4")
    menu(h, "1.4", LEAD, "details")
    [details] = h.standin.open_views(LEAD.user_id)
    h.driver.click_view(details["id"], f"item_done:{four.id}", user=LEAD.user_id)
    h.driver.click_view(details["id"], f"item_after:{four.id}", user=LEAD.user_id)
    h.standin.wait_for(
        lambda: h.standin.view(details["id"])["view"]["callback_id"] == "item_after", message="the form"
    )
    release.set()
    h.idle()

    assert h.standin.view(details["id"])["view"].get("callback_id") == "item_after", "the form stays"
    assert answers(h, "views.update")[-1] == "hash_conflict"
    assert item(h, "1.4").status == "done"
    assert "1 of " in blocks_text(checklist_msg(h, 1)["blocks"])


# -- the team form ---------------------------------------------------------------------------------
def test_a_team_removal_answered_after_another_change_shows_the_newest_team(small, monkeypatch):
    """Remove, clicked in the team form: the form is updated after the ack with the hash the click
    saw. When the form changed meanwhile (here another update lands first: a second Remove's
    answer, an add), Slack refuses the older rendering and the form is rendered again as the
    database says now, never put back to what it was."""
    import handlers.team as team_handlers
    from bot.people import roles
    from storage.models import saved_id

    h = small
    h.command("team")
    eph = h.standin.ephemerals(channel=CHANNEL, user=LEAD.user_id)[-1]
    h.driver.click_ephemeral(CHANNEL, eph["ts"], "team_manage", user=LEAD.user_id)
    h.idle()
    [view] = h.standin.open_views(LEAD.user_id)
    with h.services.db.read() as session:
        engagement = session.exec(select(Engagement)).one()
        row = next(r for r in roles.team(session, engagement) if r.user_id == APPROVER.user_id)
        engagement_id = saved_id(engagement)
    real = team_handlers._team_view
    other = WebClient(base_url=h.standin.api_url, token=BOT_TOKEN)
    landed: list[str] = []

    def rendered(*args: Any, **kwargs: Any) -> dict[str, Any]:
        built = real(*args, **kwargs)
        if not landed:  # before this rendering reaches Slack, another update of the form lands
            landed.append(other.views_update(view_id=view["id"], view=built)["view"]["hash"])
        return built

    monkeypatch.setattr(team_handlers, "_team_view", rendered)
    h.standin.reset_calls()
    h.driver.click_view(view["id"], f"team_remove:{row.role_id}", user=LEAD.user_id)
    h.idle()
    calls = h.standin.calls_to("views.update")
    assert answers(h, "views.update") == ["ok", "hash_conflict", "ok"]
    assert calls[1].args["hash"] == view["hash"], "sent with the hash the click saw"
    assert "hash" not in calls[2].args, "rendered again as it is now, and shown"
    with h.services.db.read() as session:
        assert not [
            r
            for r in roles.team(session, session.get(Engagement, engagement_id))
            if r.user_id == APPROVER.user_id
        ]
    shown = blocks_text(h.standin.view(view["id"])["view"]["blocks"])
    assert f"team_remove:{row.role_id}" not in str(h.standin.view(view["id"])["view"]["blocks"]), shown
