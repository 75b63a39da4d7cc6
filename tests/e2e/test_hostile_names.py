"""Issue 10: user text never pings, links or mentions anyone in anything the bot sends Slack.

Hostile names go through every flow a test can drive — start, checklist, add (command and
form), n/a, assign (command and menu), the nudge's snooze and blocked, sign-off request,
request changes, approve, the audit upload, team (message and form), plan, settings, dry run,
the digest and the nudge from the sweep, status and the App Home — and then EVERY call the
bot made to the stand-in (Web API arguments, command acks, response_url posts, view
submission answers: text, blocks, views, initial_comment, title…) is searched for a Slack
control sequence. The only ones allowed are the bot's own: `<@U…>` of a user the workspace
has, `<#C…>` of a known channel, and `<!date^…>` timestamps.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from sandbox.harness import APPROVER, CHANNEL, CONTRIBUTOR, CUSTOMER_TEAM, LEAD, PERSONAS, SPONSOR
from storage.models import SignoffRequest
from tests.e2e.helpers import approve_request, at, mention, nudges, posts, request_signoff
from tests.e2e.test_checklist import checklist_msg, item

# As a user types them; Slack (should_escape: true) sends `&`, `<`, `>` in command text as
# entities, so the commands below carry the escaped form and forms carry the raw text.
CUSTOMER = "<!channel> Corp &amp; Co"
LINK = "<https://evil.example|click>"
PING = "<!here>"
FAKE_MENTION = "<@W0FAKE1>"


def slack_escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Every:
    user_id, name = "U0EVERY", "Everyone Evil"
    display = "<!everyone>"


class Formula:
    user_id, name = "U0FORMULA", "Formula Fred"
    display = '=HYPERLINK("http://x")'


_TOKEN = re.compile(r"<[^<>]*>")
_DATE = re.compile(r"^!date\^[0-9]+\^[^|<>]*\|[^<>]*$")
# A link the bot makes to one of its own messages (chat.getPermalink), e.g. from a checklist copy
# collapsed to a pointer: the workspace's archive URL of a message in the channel, a fixed label.
_PERMALINK = re.compile(
    r"^https://[a-z0-9-]+\.slack\.com/archives/([CG][A-Z0-9]+)/p[0-9]{16}\|the newer copy$"
)


def strings(value: Any) -> list[str]:
    """Every string inside an argument (JSON strings opened too, e.g. `blocks`, `files`)."""
    out: list[str] = []
    if isinstance(value, str):
        out.append(value)
        if value[:1] in "[{":
            with contextlib.suppress(ValueError):
                out.extend(strings(json.loads(value)))
    elif isinstance(value, dict):
        for v in value.values():
            out.extend(strings(v))
    elif isinstance(value, list | tuple):
        for v in value:
            out.extend(strings(v))
    return out


def unintended(text: str, users: set[str], channels: set[str]) -> list[str]:
    bad = []
    for token in _TOKEN.findall(text):
        inner = token[1:-1]
        if inner.startswith("@") and inner[1:] in users:
            continue
        if inner.startswith("#") and inner[1:] in channels:
            continue
        if _DATE.match(inner):
            continue
        permalink = _PERMALINK.match(inner)
        if permalink and permalink.group(1) in channels:
            continue
        bad.append(token)
    return bad


def drive_every_flow(h) -> None:
    for who in (Every, Formula):
        h.standin.add_user(who.user_id, name=who.name, display_name=who.display, team_id=CUSTOMER_TEAM)
        h.standin.add_member(CHANNEL, who.user_id)
    h.command(f"start {slack_escaped(CUSTOMER)} size=small kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(Every)} approver")
    h.command(f"role {mention(Formula)} contributor")
    h.command(f"role {mention(SPONSOR)} sponsor")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    h.command(f"side {mention(Formula)} customer")
    # Team: the list, and the form from its button.
    h.command("team")
    team_msg = h.standin.ephemerals(channel=CHANNEL, user=LEAD.user_id)[-1]
    h.driver.click_ephemeral(CHANNEL, team_msg["ts"], "team_manage", user=LEAD.user_id)
    h.idle()
    [team_view] = h.standin.open_views(LEAD.user_id)
    h.driver.submit_view(
        team_view["id"], {"person": {"value": Every.user_id}, "role": {"value": "sponsor"}}, user=LEAD.user_id
    )  # a known person: answered in the form itself, with their name
    h.idle()
    [team_view] = h.standin.open_views(LEAD.user_id)
    remove = next(
        b["accessory"]["action_id"]
        for b in team_view["view"]["blocks"]
        if Every.user_id in json.dumps(b) and "sponsor" in json.dumps(b) and b.get("accessory")
    )
    h.driver.click_view(team_view["id"], remove, user=LEAD.user_id)  # views.update
    h.idle()
    h.driver.submit_view(
        team_view["id"],
        {"person": {"value": APPROVER.user_id}, "role": {"value": "approver"}},
        user=LEAD.user_id,
    )  # not looked up yet: answered after the ack
    h.idle()
    # Checklist: add by command and by the form, n/a, assign by command and by the item menu.
    h.command(f"add 1 {slack_escaped(LINK)} owner=customer")  # 1.7
    msg = checklist_msg(h, 1)
    h.driver.click(CHANNEL, msg["ts"], "add_item", user=LEAD.user_id)
    h.idle()
    [add_view] = h.standin.open_views(LEAD.user_id)
    h.driver.submit_view(
        add_view["id"],
        {"title": {"value": f"{PING} {FAKE_MENTION} {LINK} &amp;"}, "owner": {"value": "customer"}},
        user=LEAD.user_id,
    )  # 1.8
    h.idle()
    h.command(f"na 1.6 {slack_escaped(PING)} {slack_escaped('&amp;')}")
    h.command(f"assign 1.7 {mention(Formula)}")
    h.command(f"assign 1.5 {mention(Every)}")
    h.command("checklist 1")
    i8 = item(h, "1.8")
    h.driver.click(
        CHANNEL,
        checklist_msg(h, 1)["ts"],
        f"item_menu:{i8.id}",
        user=LEAD.user_id,
        selected_option=f"assign:{i8.id}",
    )
    h.idle()
    [assign_view] = h.standin.open_views(LEAD.user_id)
    h.driver.submit_view(assign_view["id"], {"assignee": {"value": Formula.user_id}}, user=LEAD.user_id)
    h.idle()
    h.driver.click(
        CHANNEL,
        checklist_msg(h, 1)["ts"],
        f"item_menu:{i8.id}",
        user=LEAD.user_id,
        selected_option=f"details:{i8.id}",
    )
    h.idle()
    h.command("status")
    h.command("plan")
    h.command("dryrun")
    # The sweep's nudge, then its buttons: snooze (menu and date form) and blocked.
    at(h, "2026-12-02T10:00:00+01:00")
    h.run_sweep()
    [nudge] = nudges(h)
    i5, i7 = item(h, "1.5"), item(h, "1.7")
    h.driver.click(
        CHANNEL, nudge["ts"], f"nudge_snooze:{i7.id}", user=Formula.user_id, selected_option=f"1:{i7.id}"
    )
    h.driver.click(
        CHANNEL, nudge["ts"], f"nudge_snooze:{i8.id}", user=Formula.user_id, selected_option=f"pick:{i8.id}"
    )
    h.idle()
    [snooze_view] = h.standin.open_views(Formula.user_id)
    h.driver.submit_view(snooze_view["id"], {"until": {"value": "2026-12-09"}}, user=Formula.user_id)
    h.driver.click(CHANNEL, nudge["ts"], f"nudge_blocked:{i5.id}", user=Every.user_id)
    h.idle()
    [blocked_view] = h.standin.open_views(Every.user_id)
    h.driver.submit_view(
        blocked_view["id"], {"reason": {"value": f"{PING} {FAKE_MENTION} {LINK} &amp;"}}, user=Every.user_id
    )
    h.idle()
    h.command("nudges")
    h.command("unblock 1.5")
    # Finish Discovery; sign-off request, changes requested, re-request, approval.
    for n in (1, 2, 3, 4, 5, 7, 8):
        h.command(f"done 1.{n}")
    request_signoff(h, "solution_design")
    with h.services.db.read() as session:
        first = session.exec(SignoffRequest.__table__.select()).all()[-1]
    h.driver.click(CHANNEL, first.ts, f"signoff_changes:{first.id}", user=Every.user_id)
    h.idle()
    [changes_view] = h.standin.open_views(Every.user_id)
    h.driver.submit_view(
        changes_view["id"], {"reason": {"value": f"{PING} {LINK} {FAKE_MENTION} &amp;"}}, user=Every.user_id
    )
    h.idle()
    request_signoff(h, "solution_design")
    with h.services.db.read() as session:
        second = session.exec(SignoffRequest.__table__.select()).all()[-1]
    approve_request(h, second.ts, second.id, Every.user_id)
    h.idle()
    # Plan, settings (command and form), dry run with its reminder and outcome form.
    h.command("plan target=2027-01-29")
    h.command("settings cadence=3")
    h.command("settings")
    [settings_view] = h.standin.open_views(LEAD.user_id)
    h.driver.submit_view(
        settings_view["id"],
        {
            "tz": {"value": "Europe/Berlin"},
            "hours": {"value": "09:00-17:00"},
            "days": {"value": ["mon", "tue", "wed", "thu", "fri"]},
            "cadence": {"value": "3"},
        },
        user=LEAD.user_id,
    )  # saved: confirmed ephemerally
    h.idle()
    # My tasks and Show all, as the hostile-named approver; a date change asked with a hostile reason.
    h.command("checklist 2")
    h.driver.click(CHANNEL, checklist_msg(h, 2)["ts"], "my_tasks", user=Every.user_id)
    h.idle()
    h.driver.close_view(h.standin.open_views(Every.user_id)[-1]["id"], Every.user_id)
    h.driver.click(CHANNEL, checklist_msg(h, 1)["ts"], "checklist_all", user=Every.user_id)
    h.idle()
    h.driver.close_view(h.standin.open_views(Every.user_id)[-1]["id"], Every.user_id)
    i21 = item(h, "2.1")
    h.driver.click(
        CHANNEL,
        checklist_msg(h, 2)["ts"],
        f"item_menu:{i21.id}",
        user=Formula.user_id,
        selected_option=f"due:{i21.id}",
    )
    h.idle()
    [ask_view] = h.standin.open_views(Formula.user_id)
    h.driver.submit_view(
        ask_view["id"],
        {"due": {"value": "2026-12-18"}, "reason": {"value": f"{PING} {FAKE_MENTION} {LINK} &amp;"}},
        user=Formula.user_id,
    )
    h.idle()
    at(h, "2026-12-07T09:01:00+01:00")  # Monday morning: the weekly digest
    h.run_sweep()
    h.command("dryrun 2026-12-16 10:00")
    at(h, "2026-12-09T10:00:00+01:00")
    h.run_sweep()
    assert [m for m in posts(h) if "Go-live dry run in 7 days" in m["text"]]
    at(h, "2026-12-16T10:00:00+01:00")  # its outcome is recorded on its announcement once it starts
    h.run_sweep()
    h.idle()
    announcement = [m for m in posts(h) if "Go-live dry run scheduled" in m["text"]][-1]
    h.driver.click(CHANNEL, announcement["ts"], "dryrun_issues", user=Every.user_id)
    h.idle()
    [issues_view] = h.standin.open_views(Every.user_id)
    h.driver.submit_view(issues_view["id"], {"notes": {"value": f"{PING} {LINK}"}}, user=Every.user_id)
    h.idle()
    h.driver.app_home_opened(LEAD.user_id)
    h.driver.app_home_opened(Every.user_id)
    h.idle()
    h.command("audit")


def test_hostile_names_never_reach_slack_as_controls(harness):
    h = harness
    h.lift_rate_limits()  # what Slack receives is the point here; the pacing has tests of its own
    drive_every_flow(h)
    users = {p.user_id for p in PERSONAS} | {Every.user_id, Formula.user_id}
    channels = {CHANNEL}
    methods = set()
    problems: list[str] = []
    for call in h.standin.calls:
        methods.add(call.method)
        for text in strings(call.args):
            for token in unintended(text, users, channels):
                problems.append(f"{call.method}: {token} in {text[:160]!r}")
            if "Corp &amp; Co" in text:  # the typed `&amp;` shown as `&`
                problems.append(f"{call.method}: unescaped &amp; in {text[:160]!r}")
    assert not problems, "\n".join(dict.fromkeys(problems))
    # Every kind of call was looked at, and the hostile text did reach them, escaped.
    assert {
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "command.ack",
        "response_url",
        "view_submission.response",
        "views.open",
        "views.update",
        "views.publish",
        "files.completeUploadExternal",
    } <= methods, methods
    everything = "\n".join(t for c in h.standin.calls for t in strings(c.args))
    for shown in (
        "&lt;!channel&gt; Corp &amp;amp; Co",
        "&lt;https://evil.example|click&gt;",
        "&lt;!here&gt;",
        "&lt;@W0FAKE1&gt;",
        "&lt;!everyone&gt;",
    ):
        assert shown in everything, shown
    uploads = h.standin.calls_to("files.completeUploadExternal")
    [upload] = [c for c in uploads if c.args["initial_comment"].startswith("Audit trail")]
    # the digest's timeline picture (issue 13) carries the name escaped too
    [timeline] = [c for c in uploads if c.args["initial_comment"].startswith("Timeline of")]
    assert timeline.args["files"][0]["title"].startswith("Timeline — &lt;!channel&gt; Corp &amp;amp; Co — ")
    assert upload.args["initial_comment"] == (
        "Audit trail of the &lt;!channel&gt; Corp &amp;amp; Co implementation: "
        f"{upload.args['initial_comment'].split(': ')[1]}"
    )
    assert [f["title"] for f in upload.args["files"]] == ["Audit trail — &lt;!channel&gt; Corp &amp;amp; Co"]
    assert nudges(h) and any("Weekly digest" in m["text"] for m in posts(h))
    # The flows really ran (so the search above had something to search).
    assert item(h, "1.8").assignee_id == Formula.user_id and item(h, "1.8").status == "done"
    assert ":white_check_mark: &lt;!everyone&gt; is now a sponsor." in everything  # the team form's note
