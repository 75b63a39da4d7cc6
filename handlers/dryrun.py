"""The go-live dry run: `/golive dryrun` (scheduling it, who takes part), its announcement, and
its outcome buttons (**Passed**, **Issues found…**, **Who takes part…**)."""

from __future__ import annotations

from slack_bolt import App

from bot.commands import ParsedCommand
from bot.engagement import checklist as cl
from bot.engagement import dependencies, phases
from bot.engagement.lifecycle import calendar_for
from bot.engagement.plan import business_day_warning
from bot.errors import UserError
from bot.people import notified
from bot.refs import parse_id
from bot.reminders import dryrun
from bot.reminders.milestones import golive_date, suggest_dryrun
from bot.reminders.working_hours import clock_of
from bot.services import Services
from bot.slack.nudges import names_of
from bot.slack.publish import announce_phase, refresh_posted_checklists
from bot.slack.sending import Sending
from bot.slack.signoff_requests import refresh_waiting_on_dry_run
from bot.slacktext import plain_text, user_id_from_token
from bot.user_input import ValueProblem
from handlers.base import Request, actor_for, click_engagement, remember
from handlers.engagement import require_engagement
from handlers.listening import after_ack, listener
from messages import Message
from storage.models import DryRunAttempt, Engagement, saved_id


def _mentioned(words: list[str], cmd: ParsedCommand) -> list[str]:
    """The people mentioned in `words` (every word must be a mention)."""
    people = []
    for word in words:
        user = user_id_from_token(word)
        if user is None:
            raise cmd.fail(
                f"`{plain_text(word)[:40]}` is not a person; mention who takes part with @, "
                "e.g. `dryrun people @ada @lena`."
            )
        people.append(user)
    return list(dict.fromkeys(people))


def _names(services: Services, engagement_id: int, people: list[str]) -> str:
    with services.db.read() as session:
        known = names_of(session, engagement_id)
    return ", ".join(known.get(u) or f"<@{u}>" for u in people)


def cmd_dryrun_people(req: Request, cmd: ParsedCommand, engagement: Engagement) -> None:
    """`dryrun people @a @b` (or `default`): who takes part in the current dry run."""
    services = req.services
    rest = cmd.words[1:]
    if not rest:
        raise cmd.fail("Mention who takes part, e.g. `dryrun people @ada @lena`, or `dryrun people default`.")
    people = None if [w.lower() for w in rest] == ["default"] else _mentioned(rest, cmd)
    with services.db.session() as session:
        e = session.get(Engagement, engagement.id)
        assert e is not None
        attempt = dryrun.set_participants(
            session, e, actor_for(req, session, e), people, services.clock.now()
        )
        attempt_id = saved_id(attempt)
        named = dryrun.participants(session, e).people
    req.ack(
        services.notice(
            f"Taking part in the dry run: {_names(services, saved_id(engagement), named) or 'nobody yet'}. Its reminders mention them."
        )
    )
    for user in people or []:
        remember(services, saved_id(engagement), user, req.user_id)
    dryrun.refresh_announcement(services, saved_id(engagement), attempt_id)


def cmd_dryrun(req: Request, cmd: ParsedCommand) -> None:
    services = req.services
    engagement = require_engagement(req)
    now = services.clock.now()
    if cmd.words and cmd.words[0].lower() in ("people", "with"):
        cmd_dryrun_people(req, cmd, engagement)
        return
    if not cmd.words:
        with services.db.read() as session:
            e = session.get(Engagement, engagement.id)
            assert e is not None
            suggestion = suggest_dryrun(e, session)
        if suggestion is None or suggestion <= now:
            raise cmd.fail("Give the date and time, e.g. `dryrun 2026-12-16 10:00`.")
        local = clock_of(engagement).local(suggestion)
        req.ack(
            services.notice(
                f"Suggested: {local:%a %-d %b %H:%M} ({engagement.timezone}), two business days before go-live. "
                f"Schedule it with `{services.command} dryrun {local:%Y-%m-%d %H:%M}`."
            )
        )
        return
    if len(cmd.words) < 2:
        raise cmd.fail("Give the date and the time, e.g. `dryrun 2026-12-16 10:00` (the customer's time).")
    people = _mentioned(cmd.words[2:], cmd) if len(cmd.words) > 2 else None
    with services.db.read() as session:
        golive = golive_date(engagement, session)
    try:
        today = clock_of(engagement).today(now)
        at = dryrun.parse_local(engagement, cmd.words[0], cmd.words[1], today=today, golive=golive)
    except ValueProblem as exc:
        raise cmd.fail(str(exc)) from None
    with services.db.session() as session:
        e = session.get(Engagement, engagement.id)
        assert e is not None
        done = dryrun.schedule(session, e, actor_for(req, session, e), at, now, people)
        attempt_id, previous_id = saved_id(done.attempt), done.previous.id if done.previous else None
        root = dryrun.thread_root(session, saved_id(e))
        taking_part = dryrun.participants(session, e).people
    local = clock_of(engagement).local(at)
    if previous_id is None:
        said = f"Dry run scheduled for {local:%a %-d %b %H:%M} ({engagement.timezone})."
    else:
        said = (
            f"Dry run rescheduled to {local:%a %-d %b %H:%M} ({engagement.timezone}); the earlier one is "
            "marked superseded and keeps its outcome, in the same thread."
        )
    said += (
        f"\nTaking part: {_names(services, saved_id(engagement), taking_part) or 'nobody named yet'}; the announcement and "
        f"its reminders mention them. Change it with `{services.command} dryrun people @…` or *Who takes part…*."
    )
    for user in people or []:
        remember(services, saved_id(engagement), user, req.user_id)
    # Allowed (a weekend rehearsal can be on purpose), but said, with the next business day offered.
    w = business_day_warning(
        calendar_for(engagement), local.date(), "The dry run", "dryrun {date} " + f"{local:%H:%M}"
    )
    if w is not None:
        said += f"\n:warning: {w.text} To move it: `{services.command} {w.fix}`"
    req.ack(services.notice(said))
    _announce(services, saved_id(engagement), engagement.channel_id, attempt_id, previous_id, root)


def _announce(
    services: Services,
    engagement_id: int,
    channel: str,
    attempt_id: int,
    previous_id: int | None,
    root: str | None,
) -> None:
    """Post an attempt's announcement: at the top level for the first, else in the dry run's thread
    (its root is found when the post runs: the first announcement may still be on its way); then
    the earlier attempt says it is superseded, and the gates that wait on the dry run say so."""

    def render(_out: Sending) -> Message | None:
        with services.db.read() as session:
            engagement = session.get(Engagement, engagement_id)
            attempt = session.get(DryRunAttempt, attempt_id)
            if engagement is None or attempt is None:
                return None
            return dryrun.announcement(services, session, engagement, attempt, services.clock.now())

    def root_now() -> str | None:
        with services.db.read() as session:
            return dryrun.thread_root(session, engagement_id)

    def posted(ts: str) -> None:
        with services.db.session() as session:
            row = session.get(DryRunAttempt, attempt_id)
            if row is not None:
                row.channel_id, row.ts = channel, ts
                row.thread_ts = root_ts if root_ts != ts else None
                session.add(row)
                engagement = session.get(Engagement, engagement_id)
                if engagement is not None:  # the announcement mentions who takes part
                    notified.record(
                        session,
                        engagement_id,
                        dryrun.participants(session, engagement).people,
                        kind="dryrun_scheduled",
                        subjects=[f"dryrun:{attempt_id}"],
                        now=services.clock.now(),
                        reminder=False,
                        channel=channel,
                        ts=ts,
                    )
        if previous_id is not None:
            dryrun.refresh_announcement(services, engagement_id, previous_id)
        refresh_waiting_on_dry_run(services, engagement_id)

    root_ts = root

    def thread() -> str | None:
        nonlocal root_ts
        root_ts = root_now()
        return root_ts

    services.outbox.post(
        channel,
        render,
        kind=dryrun.ANNOUNCEMENT,
        key=str(attempt_id),
        engagement_id=engagement_id,
        then=posted,
        thread_ts=thread if previous_id is not None else None,
        top_if_no_thread=True,
    )


def _outcome(req: Request, outcome: str, notes: str | None, attempt_id: int | None) -> None:
    """Record the dry run's outcome (work after the ack). The same outcome recorded already (a
    second click, a replay) changes nothing and posts nothing (`dryrun.record_outcome`)."""
    services = req.services
    now = services.clock.now()
    settled: list[str] = []
    advanced = None
    with services.db.session() as session:
        engagement = click_engagement(req, session)
        actor = actor_for(req, session, engagement)
        changed = dryrun.record_outcome(session, engagement, actor, outcome, notes, now, attempt_id)
        if changed and outcome == "passed":  # it settles the items that were about it
            settled = [
                c.ref for c in dependencies.settle(session, engagement, dependencies.DRY_RUN, actor, now)
            ]
            advanced = phases.advance_if_complete(session, engagement, now, actor) if settled else None
        engagement_id, channel = saved_id(engagement), engagement.channel_id
        root = dryrun.thread_root(session, saved_id(engagement))
    if not changed:
        return
    dryrun.refresh_dry_run(services, engagement_id)
    if settled:
        refresh_posted_checklists(services, engagement_id)
    if advanced is not None:
        announce_phase(services, engagement_id, advanced)
    text = (
        ":white_check_mark: The go-live dry run passed; the final go-live approval can go ahead."
        + (f" It settles {', '.join(settled)}: ticked." if settled else "")
        if outcome == "passed"
        else ":warning: The go-live dry run found issues; the final go-live approval waits for a passed dry run. "
        f"Reschedule it with `{services.command} dryrun YYYY-MM-DD HH:MM`; this result stays on record."
    )
    services.outbox.post(
        channel, services.notice(text), kind="dryrun_outcome", engagement_id=engagement_id, thread_ts=root
    )


def _attempt_clicked(req: Request) -> int | None:
    """The attempt whose announcement was clicked (None from an older message without it)."""
    raw = req.action.get("value") if req.action else req.metadata.get("attempt")
    return parse_id(raw) if raw not in (None, "") else None


def on_dryrun_passed(req: Request) -> None:
    """Passed: acked once the click is in the inbox, recorded after."""
    attempt_id = _attempt_clicked(req)
    after_ack(req, lambda r: _outcome(r, "passed", None, attempt_id))


def on_dryrun_issues(req: Request) -> None:
    req.ack()
    services = req.services
    attempt_id = _attempt_clicked(req)
    with services.db.read() as session:
        engagement = click_engagement(req, session)
        dryrun.check_may_record(actor_for(req, session, engagement))
        current = dryrun.current_attempt(session, saved_id(engagement))
        if current is not None and attempt_id is not None and current.id != attempt_id:
            raise UserError(
                "That dry run was rescheduled; record the outcome on the newer one. Nothing was changed."
            )
        if current is not None and current.at > services.clock.now():
            local = clock_of(engagement).local(current.at)
            raise UserError(
                f"The dry run starts {local:%a %-d %b %H:%M} ({engagement.timezone}); "
                "record its outcome once it has started. Nothing was changed."
            )
    meta = {"channel": req.channel_id, **({"attempt": attempt_id} if attempt_id is not None else {})}
    services.slack.open_view(
        req.trigger_id or "", services.renderer.view("dryrun_issues_modal.json.j2", meta=meta)
    )


def on_dryrun_issues_submit(req: Request) -> None:
    raw = req.text_field("notes")
    if not raw:
        req.ack(response_action="errors", errors={"notes": "Say what the dry run found."})
        return
    attempt_id = _attempt_clicked(req)
    # The form closes once the submission is in the inbox; the outcome is recorded after.
    after_ack(req, lambda r: _outcome(r, "issues", str(raw), attempt_id))


def on_dryrun_people(req: Request) -> None:
    """*Who takes part…* on the announcement: the form naming the dry run's participants."""
    req.ack()
    services = req.services
    attempt_id = _attempt_clicked(req)
    with services.db.read() as session:
        engagement = click_engagement(req, session)
        if not actor_for(req, session, engagement).is_vendor:
            raise cl.Refused("Only the implementation team says who takes part in the dry run.")
        current = dryrun.current_attempt(session, saved_id(engagement))
        if current is None or (attempt_id is not None and current.id != attempt_id) or current.outcome:
            raise UserError("That dry run is over or was rescheduled; use the newest announcement.")
        people = dryrun.participants(session, engagement).people
        chosen = current.participants is not None
    meta = {"channel": engagement.channel_id, "attempt": current.id}
    view = services.renderer.view("dryrun_people_modal.json.j2", meta=meta, people=people, chosen=chosen)
    services.slack.open_view(req.trigger_id or "", view)


def on_dryrun_people_submit(req: Request) -> None:
    services = req.services
    picked = [str(u) for u in (req.field("people") or [])]
    attempt_id = _attempt_clicked(req)
    with services.db.session() as session:
        engagement = click_engagement(req, session)
        current = dryrun.current_attempt(session, saved_id(engagement))
        if current is None or current.id != attempt_id:
            req.ack(
                response_action="errors",
                errors={"people": "That dry run was rescheduled; open the form again."},
            )
            return
        try:
            dryrun.set_participants(
                session, engagement, actor_for(req, session, engagement), picked or None, services.clock.now()
            )
        except UserError as exc:
            req.ack(response_action="errors", errors={"people": exc.message.replace("`", "")})
            return
        engagement_id = saved_id(engagement)
    req.ack()
    for user in picked:
        remember(services, engagement_id, user, req.user_id)
    dryrun.refresh_announcement(services, engagement_id, saved_id(current))


def register(app: App, services: Services) -> None:
    app.action("dryrun_passed")(listener(services, on_dryrun_passed))
    app.action("dryrun_issues")(listener(services, on_dryrun_issues))
    app.view("dryrun_issues")(listener(services, on_dryrun_issues_submit))
    app.action("dryrun_people")(listener(services, on_dryrun_people))
    app.view("dryrun_people")(listener(services, on_dryrun_people_submit))
