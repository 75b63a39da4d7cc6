"""Starting an engagement (command and modal) and showing its status."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from slack_bolt import App
from sqlalchemy import bindparam
from sqlmodel import Session, col, func, select

from bot.commands import ParsedCommand
from bot.engagement.capacity import over_capacity
from bot.engagement.lifecycle import (
    PREPARING,
    EngagementExists,
    active_in_channel,
    build_start_options,
    check_kickoff,
    check_target,
    latest_in_channel,
    local_today,
    occupying,
    parse_start,
    start_engagement,
)
from bot.engagement.plan import describe_warnings
from bot.errors import UserError
from bot.people.organisations import connected_teams
from bot.services import Services
from bot.slack.gateway import SlackCallFailed
from bot.slack.presenters import local_day, overview
from bot.slack.project_page import refresh_project_page
from bot.slack.publish import post_checklist, welcome_message
from bot.slack.rosters import read_roster
from bot.user_input import (
    ValueProblem,
    parse_country,
    parse_date,
    parse_ingest,
    parse_name,
    parse_size,
    parse_timezone,
)
from handlers.base import Request
from handlers.listening import after_ack, listener
from messages import Message, Trusted, fmt
from storage.models import CHANNELS_ACTIVE, AuditEvent, Engagement, saved_id

log = logging.getLogger("golive.handlers.engagement")

_ISO_IN_PARENS = re.compile(r" \(\d{4}-\d{2}-\d{2}\)")


def require_engagement(
    req: Request, *, finished_ok: bool = False, session: Session | None = None
) -> Engagement:
    """The channel's active engagement; with finished_ok, its most recent one (live or cancelled).
    Read in `session` when given (so a command's write transaction is its only one)."""
    services = req.services
    channel = req.channel_id
    with nullcontext(session) if session is not None else services.db.read() as sess:
        latest = latest_in_channel(sess, channel) if channel else None
    engagement = latest if latest is not None and (finished_ok or latest.status == "active") else None
    if engagement is None:
        raise UserError(finished_message(services, latest))
    return engagement


def preparing_message(engagement: Engagement) -> str:
    """What the channel of a deal won in the CRM says before the customer's side joined."""
    return (
        f"The {engagement.customer_name} engagement was made from a deal won in the CRM and starts "
        "when the customer's side joins this channel (their invitations went out by email; the lead "
        "hears in a direct message if one is not accepted). Until then there is nothing to change here."
    )


def finished_message(services: Services, latest: Engagement | None) -> str:
    """What a command that needs a running engagement answers when none runs in the channel."""
    if latest is not None and latest.status == PREPARING:
        return preparing_message(latest)
    if latest is None:
        return (
            f"No engagement runs in this channel yet. A consultant starts one with "
            f"`{services.command} start <customer name>`."
        )
    # The day on the customer's clock, as every other date the bot shows.
    since = f" on {local_day(latest.updated_at, latest.timezone):%a %-d %b %Y}" if latest.updated_at else ""
    if latest.status == "live":
        what = f"The {latest.customer_name} implementation is live (it went live{since}), so there is nothing left to change."
    else:
        what = f"The {latest.customer_name} engagement was cancelled{since}, so nothing in it can be changed."
    return (
        f"{what} `{services.command} status` shows how it ended and `{services.command} audit` exports its audit trail; "
        f"`{services.command} start <customer name>` starts the next engagement in this channel."
    )


def in_direct_message(req: Request) -> bool:
    """A command typed in a DM or group DM: there is no customer channel, and looking the
    conversation up (conversations.info) would need im:read / mpim:read, which the app does not ask
    for. DM ids start with D; Slack names a DM "directmessage" and a group DM "mpdm-…"."""
    channel = req.channel_id or ""
    name = str(req.body.get("channel_name") or "")
    return channel.startswith("D") or name == "directmessage" or name.startswith("mpdm-")


def answer_direct_message(req: Request, cmd: ParsedCommand) -> bool:
    """Answer a command typed in a DM at once, with no Slack call; True when it was one."""
    if cmd.name == "help" or not in_direct_message(req):
        return False
    services = req.services
    what = f"`{services.command} {cmd.name}`"
    req.ack(
        services.notice(
            f"{what} works in the channel you share with the customer, not in a direct message. "
            f"Go to that channel and run it there.",
            hint=f"New here? Invite me to the shared channel with `/invite @golive`, then run "
            f"`{services.command} start <customer name>` in it. `{services.command} help` works anywhere.",
        )
    )
    return True


def _exists_message(services: Services, existing: Engagement) -> str:
    if existing.status == PREPARING:
        return preparing_message(existing)
    started = local_today(existing.created_at, existing.timezone)  # its day on the customer's clock
    return (
        f"This channel already runs the {existing.customer_name} implementation "
        f"(started {started:%-d %b %Y}). Use `{services.command} status` to see it; "
        f"one channel holds one active engagement."
    )


def _channel_if_postable(services: Services, channel: str) -> dict[str, Any] | None:
    """conversations.info of the channel when the bot can post there, else None."""
    try:
        info = services.slack.channel_info(channel)
    except SlackCallFailed as exc:
        if exc.error in ("channel_not_found", "not_in_channel"):
            return None
        raise
    if info.get("is_archived"):
        return None
    return info if bool(info.get("is_member", True)) or bool(info.get("is_im")) else None


def start(req: Request, cmd: ParsedCommand) -> None:
    services = req.services
    channel = req.channel_id
    if not channel:
        raise UserError("Run start in the channel you share with the customer.")
    if not cmd.words and not cmd.options:
        _open_start_modal(req)
        return
    opts = parse_start(
        cmd,
        now=services.clock.now(),
        default_tz=services.settings.golive_default_timezone,
        playbook=services.playbook,
    )
    with services.db.read() as session:
        existing = occupying(session, channel)
    if existing is not None:
        raise UserError(_exists_message(services, existing))
    # Everything else talks to Slack, so it happens after the ack, the command in the inbox.
    not_in = (
        "I'm not in this channel yet, so I can't run an engagement here. "
        "Invite me with `/invite @golive`, then run start again. Nothing was created."
    )
    after_ack(req, lambda r: _start_after_ack(r, channel, opts, not_in))


def _start_after_ack(req: Request, channel: str, opts: Any, not_in: str) -> Callable[[], None] | None:
    """Start the engagement once the channel is known to take the bot's posts. A replay of a start
    done finds it running (`EngagementExists`): said, nothing created or posted again."""
    services = req.services
    info = _channel_if_postable(services, channel)
    if info is None:
        return lambda: req.reply(services.notice(not_in))
    return _create_and_welcome(req, channel, opts, info)


def _create_and_welcome(
    req: Request, channel: str, opts: Any, info: dict[str, Any]
) -> Callable[[], None] | None:
    """Create the engagement and queue its welcome; what to tell the starter, to call after."""
    services = req.services
    grid = req.install_enterprise_id or services.slack.install_enterprise()
    try:
        with services.db.session() as session:
            engagement = start_engagement(
                session,
                opts,
                playbook=services.playbook,
                team_id=req.installing_team,
                channel_id=channel,
                user_id=req.user_id,
                user_name=req.user_name,
                now=services.clock.now(),
                vendor_enterprise_id=grid,
                channel_teams=connected_teams(info),
            )
            message = welcome_message(services, session, engagement, services.clock.now())
            # The new engagement counts: its lead over GOLIVE_CAPACITY with it is told so below.
            heavy = over_capacity(session, services.settings.golive_capacity, req.user_id, engagement.size)
    except EngagementExists as exc:
        exists = services.notice(_exists_message(services, exc.engagement))
        return lambda: req.reply(exists)
    engagement_id, phase_index, customer = (
        saved_id(engagement),
        engagement.phase_index,
        engagement.customer_name,
    )
    # Who is in the channel: App Home shows the engagement to the vendor's people in it.
    read_roster(services, channel)

    def refused(exc: SlackCallFailed) -> None:
        log.warning("welcome for engagement %s not posted: %s", engagement_id, exc.error)
        req.reply(
            services.notice(
                f"The {customer} engagement is set up, but Slack refused the welcome "
                f"message ({exc.error}). Check that I'm in this channel, then use `{services.command} status`."
            )
        )

    def landed() -> None:
        post_checklist(services, engagement_id, phase_index)
        refresh_project_page(services, engagement_id)  # after the checklist: it links to it

    # The checklist follows the welcome once it landed; a refused welcome is explained to the
    # consultant, and nothing more is posted.
    services.outbox.post(
        channel,
        message,
        kind="welcome",
        key="welcome",
        engagement_id=engagement_id,
        then=lambda _ts: landed(),
        on_failed=refused,
    )
    # Allowed, but the consultant should know (issue 13): the plan's warnings, and their load.
    lines = [fmt("{plan}", plan=describe_warnings(opts.warnings, services.command))] if opts.warnings else []
    if heavy is not None:
        lines.append(Trusted("• " + heavy.mrkdwn(services.command)))
    if lines:
        worth = services.notice(Trusted("Started. Worth a look:\n" + "\n".join(lines)))
        return lambda: req.reply(worth)
    return None


# The status's revision: the latest audit row (built once, see lifecycle._ACTIVE_IN_CHANNEL).
_REVISION = select(func.max(AuditEvent.id)).where(AuditEvent.engagement_id == bindparam("engagement"))
# What says whether the status must be rendered again, for the channel's active engagement, in
# one Core statement (plain columns: the usual request is a cache hit and needs no ORM object).
_ACTIVE_STATUS_KEY = select(
    col(Engagement.id),
    col(Engagement.updated_at),
    col(Engagement.timezone),
    select(func.max(AuditEvent.id)).where(AuditEvent.engagement_id == Engagement.id).scalar_subquery(),
).where(CHANNELS_ACTIVE)


def status(req: Request, cmd: ParsedCommand) -> None:
    """The status, rendered once per state of the engagement: every change writes an audit row,
    and the health depends on the local date, so (latest audit row, engagement row, local date)
    says when it must be rendered again. A cache hit answers with one indexed read of four
    columns (`Database.rows`: 1.9-2.1 ms of thread CPU per status at 10 clients when it read the
    engagement into the ORM)."""
    services = req.services
    now = services.clock.now()
    found = None
    if req.channel_id:
        with services.db.rows() as conn:
            found = conn.execute(_ACTIVE_STATUS_KEY, {"channel": req.channel_id}).first()
    if found is not None:  # the usual request
        engagement_id, updated_at, timezone, revision = found
    else:  # no active engagement: the latest one (live or cancelled), or the friendly answer
        with services.db.read() as session:
            latest = latest_in_channel(session, req.channel_id or "") if req.channel_id else None
            if latest is None:
                require_engagement(req, finished_ok=True)  # raises the friendly "no engagement" answer
                return
            if latest.status == PREPARING:  # a deal's channel, before the customer joined
                raise UserError(preparing_message(latest))
            revision = session.exec(_REVISION, params={"engagement": latest.id}).one()
        engagement_id, updated_at, timezone = saved_id(latest), latest.updated_at, latest.timezone
    key = ("status", engagement_id, revision, updated_at, local_today(now, timezone))

    def render() -> Message:
        with services.db.read() as session:
            engagement = session.get(Engagement, engagement_id)
            assert engagement is not None
            ctx = overview(session, engagement, services.playbook_for(engagement), now)
        return services.renderer.message("status.json.j2", command=services.command, **ctx)

    req.ack(services.rendered.get_or_make(key, render))


# -- the start modal -----------------------------------------------------------------------
def _open_start_modal(req: Request) -> None:
    services = req.services
    channel = req.channel_id
    with services.db.read() as session:
        existing = occupying(session, channel) if channel else None
    if existing is not None:
        raise UserError(_exists_message(services, existing))
    req.ack()
    tz = services.settings.golive_default_timezone
    view = services.renderer.view(
        "start_modal.json.j2",
        meta={"channel": channel},
        today=local_today(services.clock.now(), tz).isoformat(),
        default_tz=tz,
    )
    services.slack.open_view(req.trigger_id or "", view)


def _start_form_errors(req: Request, default_tz: str) -> dict[str, str]:
    """Every problem of the start form at once, each under its own field (a target before the
    kickoff is the target's problem, shown under Target)."""
    services = req.services
    errors: dict[str, str] = {}

    def check(field: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except ValueProblem as exc:
            errors[field] = str(exc).replace("`", "")
            return None

    check("customer", lambda: parse_name(req.field("customer") or ""))
    if req.field("size"):
        check("size", lambda: parse_size(req.field("size")))
    tz = check("tz", lambda: parse_timezone(req.field("tz"))) if req.field("tz") else default_tz
    if req.field("country"):
        check("country", lambda: parse_country(req.field("country")))
    if req.field("ingest"):
        check("ingest", lambda: parse_ingest(req.field("ingest")))
    today = local_today(services.clock.now(), tz or default_tz)
    kickoff = today
    if req.field("kickoff"):
        kickoff = check(
            "kickoff", lambda: check_kickoff(parse_date(req.field("kickoff"), "kickoff date"), today)
        )
    if req.field("target") and kickoff is not None:
        check("target", lambda: check_target(parse_date(req.field("target"), "target go-live date"), kickoff))
    return errors


def _from_vendor_org(req: Request) -> bool:
    """The start form is the implementation team's: its submitter must be of the installing
    workspace or, on Enterprise Grid, of the same org."""
    home, grid = req.user_team_id, req.install_enterprise_id
    if home and home == req.installing_team:
        return True
    return bool(grid) and (req.user_enterprise_id == grid or home == grid)


def on_start_submit(req: Request) -> None:
    services = req.services
    if not _from_vendor_org(req):
        raise UserError("Only the implementation team starts engagements; nothing was created.")
    meta = req.sealed_metadata()
    if meta is None:
        raise UserError(
            "I couldn't verify that this form came from me; run start again. Nothing was created."
        )
    channel = meta.get("channel")
    pilot = req.field("pilot") or []
    errors = _start_form_errors(req, services.settings.golive_default_timezone)
    if errors:
        req.ack(response_action="errors", errors=errors)
        return
    try:
        opts = build_start_options(
            name=req.field("customer") or "",
            size=req.field("size"),
            kickoff=req.field("kickoff"),
            target=req.field("target"),
            tz=req.field("tz"),
            country=req.field("country"),
            pilot="yes" if "yes" in pilot else "no",
            ingest=req.field("ingest"),
            now=services.clock.now(),
            default_tz=services.settings.golive_default_timezone,
            playbook=services.playbook,
        )
    except ValueProblem as exc:
        # Every field was checked above; what is left is the plan's own check: a target go-live the
        # phases cannot meet. It is the target's problem, shown under Target go-live, its dates in
        # one format (the date picker needs no YYYY-MM-DD to copy).
        field = "target" if req.field("target") else "kickoff"
        text = _ISO_IN_PARENS.sub("", str(exc).replace("`", ""))
        req.ack(response_action="errors", errors={field: text})
        return
    if not channel:
        raise UserError("I lost track of the channel this form was opened in; run start again there.")
    with services.db.read() as session:
        existing = active_in_channel(session, channel)
    if existing is not None:
        req.ack(
            response_action="errors",
            errors={"customer": _exists_message(services, existing).replace("`", "")},
        )
        return
    # The form closes once the submission is in the inbox; the engagement is started after.
    not_in = "I'm not in that channel yet; invite me with `/invite @golive` and start again."
    after_ack(req, lambda r: _start_after_ack(r, channel, opts, not_in))


def register(app: App, services: Services) -> None:
    app.view("start_engagement")(listener(services, on_start_submit))
