"""*My tasks*: the button on the welcome, every checklist, every nudge and the digest opens a private
modal for whoever clicks it — customers in Slack Connect included, who have no slash commands and
no Home tab — with their open items, due dates in their own time zone, and the sign-offs waiting
on them (Approve / Request changes right there). Each item has **Done** (a tick, as the checklist's),
**Blocked…** and **Snooze** (the nudge's forms, pushed onto the modal), with the checklist's rules:
customers act on their side's items, the implementation team on any. After each, the modal shows
what happened (views.update with the view's hash: a newer version is never overwritten blindly).

My tasks' own view only ever holds My tasks: every form opened from it (Blocked…, a snooze date,
Request changes) is pushed on top, so an update of My tasks, however late, never replaces a form
the person opened since — they go on seeing the form, and find My tasks up to date under it.

The modal opens right after the ack from what the database knows (the trigger expires within
seconds); then the person's time zone (users.info, cached) and links to the requests are fetched,
and the modal is updated when they change what it shows.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import App

from bot.engagement import signoffs as so
from bot.engagement.dependencies import waiting_refs
from bot.engagement.tasks import tasks_for
from bot.errors import UserError
from bot.people.members import lead_of
from bot.people.sides import CUSTOMER_UNKNOWN, ORG_UNKNOWN, Actor
from bot.refs import parse_choice
from bot.services import Services
from bot.slack.gateway import HASH_CONFLICT, ShownView, SlackCallFailed
from bot.slack.modals import tasks_context
from handlers.base import Request, actor_for, click_engagement, learn_customer
from handlers.checklist_menu import done_note, mark_done
from handlers.listening import after_ack, listener
from handlers.nudges import open_blocked_form, snooze_choice
from handlers.signoffs import decision_closed, record_decision  # one decision path, here or in the channel
from storage.models import Engagement, Gate, SignoffRequest, saved_id

log = logging.getLogger("golive.handlers.tasks")

DONE = re.compile(r"^tasks_done:(\d+)$")
BLOCKED = re.compile(r"^tasks_blocked:(\d+)$")
SNOOZE = re.compile(r"^tasks_snooze:(\d+)$")
APPROVE = re.compile(r"^tasks_approve:(\d+)$")
CHANGES = re.compile(r"^tasks_changes:(\d+)$")
OPEN = re.compile(r"^tasks_open:(\d+)$")
CHANGES_FORM = "tasks_changes"  # the request-changes form pushed from My tasks


def _explain(services: Services, engagement: Engagement, actor: Actor, lead_name: str | None) -> str:
    ask = f"ask {lead_name}" if lead_name else "ask the lead consultant"
    customer = engagement.customer_name
    if actor.no_side_reason == CUSTOMER_UNKNOWN:
        return (
            f"The implementation team hasn't said yet which organisation in this channel is {customer}; "
            f"once they have, My tasks lists your items. To set it, {ask} to run "
            f"`{services.command} customer @someone-from-{customer}`."
        )
    if actor.no_side_reason == ORG_UNKNOWN:
        return (
            f"I can't tell which organisation you belong to. If you work on this implementation, "
            f"{ask} to run `{services.command} side @you customer` (or vendor)."
        )
    return (
        f"You're in this channel from another organisation than {customer} and the implementation "
        f"team. If you work on it for {customer}, {ask} to run `{services.command} side @you customer`."
    )


def tasks_view(
    req: Request, *, tz: str | None, links: dict[int, str] | None = None, note: str | None = None
) -> tuple[dict[str, Any], list[SignoffRequest]]:
    """The My tasks modal for the requesting user, and the requests it lists (to link them)."""
    services = req.services
    with services.db.read() as session:
        engagement = click_engagement(req, session)
        actor = actor_for(req, session, engagement, acting=False)
        tasks = tasks_for(session, engagement, actor)
        gate_items = {}
        for waiting in tasks.signoffs + tasks.with_customer:
            certified = so.gate_items(session, waiting.gate)
            gate_items[waiting.gate.id or 0] = (so.open_count(certified), len(certified))
        ctx = tasks_context(
            engagement,
            actor,
            tasks,
            viewer_tz=tz,
            now=services.clock.now(),
            gate_items=gate_items,
            waiting=waiting_refs(session, saved_id(engagement)),
        )
        lead = lead_of(session, saved_id(engagement))
        explanation = (
            ""
            if actor.has_side
            else _explain(services, engagement, actor, lead.display_name if lead else None)
        )
        channel, engagement_id = engagement.channel_id, engagement.id
    for row in ctx["signoffs"] + ctx["with_customer"]:
        row["link"] = (links or {}).get(row["request_id"])
    requests = [w.request for w in tasks.signoffs + tasks.with_customer]
    view = services.renderer.view(
        "my_tasks.json.j2",
        **ctx,
        explanation=explanation,
        note=note,
        meta={"channel": channel, "engagement": engagement_id},
    )
    return view, requests


def _links(services: Services, requests: list[SignoffRequest]) -> dict[int, str]:
    """Links to the posted sign-off requests (chat.getPermalink: no scope needed)."""
    links: dict[int, str] = {}
    for request in requests[:20]:
        if not request.ts:
            continue
        try:
            url = services.slack.permalink(request.channel_id, request.ts)
        except SlackCallFailed as exc:
            log.info("no permalink for sign-off request %s: %s", request.id, exc.error)
            continue
        if url.startswith("https://"):
            links[saved_id(request)] = url
    return links


def _viewer_tz(req: Request) -> str | None:
    cached = req.services.slack.cached_profile(req.user_id)
    return cached.tz if cached is not None else None


def on_my_tasks(req: Request) -> None:
    req.ack()
    services = req.services
    with services.db.read() as session:
        engagement = click_engagement(req, session)
        actor = actor_for(req, session, engagement, acting=False)
    if actor.no_side_reason == CUSTOMER_UNKNOWN:
        learn_customer(req)  # the only other organisation in the channel is the customer's
    cached_tz = _viewer_tz(req)
    view, requests = tasks_view(req, tz=cached_tz)
    opened = services.slack.open_view_hashed(req.trigger_id or "", view)
    # After the modal is open: the person's own time zone and links to the requests.
    tz = cached_tz or services.slack.profile(req.user_id).tz
    links = _links(services, requests)
    if tz != cached_tz or links:
        _complete(req, opened, tasks_view(req, tz=tz, links=links)[0])


def _complete(req: Request, opened: ShownView, view: dict[str, Any]) -> None:
    """My tasks as just opened, completed (time zone, links), with the hash views.open gave: when
    it changed since (a click's refresh, rendered later and with its own links), Slack refuses
    (`hash_conflict`) and the newer one stays."""
    try:
        req.services.slack.update_view(opened.id, view, view_hash=opened.hash)
    except SlackCallFailed as exc:
        if exc.error != HASH_CONFLICT:
            raise
        log.info("My tasks %s changed since it opened; the newer one stays", opened.id)


def refresh_tasks(req: Request, view_id: str, note: str, *, view_hash: str | None = None) -> None:
    """Show My tasks (`view_id`) as it is now, with `note` on top. With `view_hash` (the view as
    the click saw it), a newer version of the modal is not overwritten blindly: on `hash_conflict`
    it is rendered again from the database, which knows every change, and updated then. That
    view holds only My tasks (its forms are pushed on top of it), so what changed it since is an
    older rendering of the same list: the one rendered after the refusal is the newest. The links
    follow with the hash that update gave; a newer My tasks landed meanwhile has its own."""
    services = req.services
    if not view_id:
        return
    tz = _viewer_tz(req)
    view, requests = tasks_view(req, tz=tz, note=note)
    try:
        shown = services.slack.update_view(view_id, view, view_hash=view_hash)
    except SlackCallFailed as exc:
        if exc.error != HASH_CONFLICT:
            raise
        log.info("My tasks %s changed meanwhile; shown again as it is now", view_id)
        view, requests = tasks_view(req, tz=tz, note=note)
        shown = services.slack.update_view(view_id, view)
    links = _links(services, requests)
    if links:
        try:
            services.slack.update_view(
                view_id, tasks_view(req, tz=tz, links=links, note=note)[0], view_hash=shown
            )
        except SlackCallFailed as exc:
            if exc.error != HASH_CONFLICT:
                raise
            log.info("My tasks %s changed again before its links; the newer one stays", view_id)


def _refresh(req: Request, note: str) -> None:
    refresh_tasks(req, str(req.view.get("id") or ""), note, view_hash=req.view.get("hash"))


def on_done(req: Request) -> None:
    """Done: the item is ticked exactly as its checkbox in the checklist ticks it (the same checks
    and audit, the posted checklist and the nudges listing it updated), after the ack with the
    click in the inbox, and the modal shows it."""
    item_id = req.action_number()

    def work(r: Request) -> Callable[[], None]:
        note = done_note(r, item_id, mark_done(r, item_id))
        return lambda: _refresh(r, note)

    after_ack(req, work)


def on_blocked(req: Request) -> None:
    """Blocked…: the nudge's "what blocks it?" form, on top of My tasks."""
    req.ack()
    try:
        open_blocked_form(req, req.action_number(), tasks_view=str(req.view.get("id") or ""))
    except UserError as exc:
        _refresh(req, f":warning: {exc.message}")


def on_snooze(req: Request) -> None:
    """Snooze: 1 or 3 business days (recorded after the ack, with the click in the inbox; the
    modal shows it), or a date in the nudge's form."""
    how, item_id = parse_choice((req.action.get("selected_option") or {}).get("value"))
    try:
        chosen = snooze_choice(req, how, item_id, tasks_view=str(req.view.get("id") or ""))
    except UserError as exc:
        req.ack()
        _refresh(req, f":warning: {exc.message}")
        return
    if chosen is None:  # the date form is open
        return

    def work(r: Request) -> Callable[[], None]:
        try:
            chosen.record(r)
        except UserError as exc:
            note = f":warning: {exc.message}"
        else:
            note = chosen.note
        return lambda: _refresh(r, note)

    after_ack(req, work)


def on_approve(req: Request) -> None:
    """Approve from My tasks: the same decision as the request's own button (checked before the
    ack, recorded after it with the click in the inbox), then the modal shows what happened."""
    services = req.services
    request_id = req.action_number()
    with services.db.read() as session:
        request = session.get(SignoffRequest, request_id)
        gate = session.get(Gate, request.gate_id) if request is not None else None
        title = gate.title if gate is not None else "the sign-off"
    try:
        closed = decision_closed(req, request_id)
    except UserError as exc:
        req.ack()
        _refresh(req, f":warning: {exc.message}")
        return
    if closed is not None:  # also a replay of an approval recorded: said, not recorded again
        req.reply(services.notice(closed))
        _refresh(req, f"{title} was already decided; nothing was changed.")
        return

    def work(r: Request) -> Callable[[], None]:
        try:
            record_decision(r, request_id, "approved", None)
        except UserError as exc:
            warning = f":warning: {exc.message}"
            return lambda: _refresh(r, warning)
        with services.db.read() as session:
            decided = so.decision_of(session, request_id)
        if decided is not None and decided.user_id == r.user_id and decided.decision == "approved":
            note = f":white_check_mark: You approved {title}; it is recorded with your name and the time."
        else:
            note = f"{title} was already decided; nothing was changed."
        return lambda: _refresh(r, note)

    after_ack(req, work)


def on_changes(req: Request) -> None:
    """Request changes from My tasks: the request-changes form, pushed on top of My tasks (an
    update of My tasks, however late, leaves it as it is); submitted, it records the sign-off's
    own decision and My tasks, under it, shows what happened (`on_changes_submit`)."""
    req.ack()
    services = req.services
    request_id = req.action_number()
    try:
        with services.db.read() as session:
            engagement = click_engagement(req, session)
            request = session.get(SignoffRequest, request_id)
            gate = session.get(Gate, request.gate_id) if request is not None else None
            if request is None or gate is None or gate.engagement_id != engagement.id:
                raise UserError("That sign-off request is not part of this engagement. Nothing was changed.")
            if request.status != "open":
                raise UserError(
                    f"{gate.title} (version {request.version}) is no longer open. Nothing was changed."
                )
            so.check_may_decide(session, engagement, gate, actor_for(req, session, engagement))
            title, version, channel = gate.title, request.version, engagement.channel_id
    except UserError as exc:
        _refresh(req, f":warning: {exc.message}")
        return
    view = services.renderer.view(
        "signoff_changes_modal.json.j2",
        gate_title=title,
        version=version,
        meta={"channel": channel, "request": request_id, "tasks": str(req.view.get("id") or "")},
    )
    view["callback_id"] = CHANGES_FORM  # its submission shows the decision in My tasks too
    services.slack.push_view(req.trigger_id or "", view)


def on_changes_submit(req: Request) -> None:
    """The request-changes form pushed from My tasks: the same decision as the request's own form
    (checked before the ack, recorded after it with the submission in the inbox). The form
    closes, and My tasks under it shows what happened."""
    services = req.services
    reason = req.text_field("reason")
    if not reason:
        req.ack(response_action="errors", errors={"reason": "Say what needs to change."})
        return
    request_id = req.meta_id("request")
    tasks = str(req.metadata.get("tasks") or "")
    with services.db.read() as session:
        request = session.get(SignoffRequest, request_id)
        gate = session.get(Gate, request.gate_id) if request is not None else None
        title = gate.title if gate is not None else "the sign-off"
    closed = decision_closed(req, request_id)
    if closed is not None:  # also a replay of a decision recorded: said, not recorded again
        req.reply(services.notice(closed))
        refresh_tasks(req, tasks, f"{title} was already decided; nothing was changed.")
        return

    def work(r: Request) -> Callable[[], None]:
        try:
            record_decision(r, request_id, "changes_requested", reason)
        except UserError as exc:
            warning = f":warning: {exc.message}"
            return lambda: refresh_tasks(r, tasks, warning)
        with services.db.read() as session:
            decided = so.decision_of(session, request_id)
        if decided is not None and decided.user_id == r.user_id and decided.decision == "changes_requested":
            note = f":memo: You requested changes to {title}; the requester hears of it in its thread."
        else:
            note = f"{title} was already decided; nothing was changed."
        return lambda: refresh_tasks(r, tasks, note)

    after_ack(req, work)


def on_open_link(req: Request) -> None:
    """A link button: Slack opens the link and still tells the app."""
    req.ack()


def register(app: App, services: Services) -> None:
    app.action("my_tasks")(listener(services, on_my_tasks))
    app.action(DONE)(listener(services, on_done))
    app.action(BLOCKED)(listener(services, on_blocked))
    app.action(SNOOZE)(listener(services, on_snooze))
    app.action(APPROVE)(listener(services, on_approve))
    app.action(CHANGES)(listener(services, on_changes))
    app.action(OPEN)(listener(services, on_open_link))
    app.view(CHANGES_FORM)(listener(services, on_changes_submit))
