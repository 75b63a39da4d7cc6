"""`/golive settings`: the customer's clock for reminders, typed or in a form."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App

from bot.commands import ParsedCommand
from bot.engagement import checklist as cl
from bot.engagement.lifecycle import replan
from bot.people import audit
from bot.reminders.milestones import sync_schedule
from bot.reminders.preview import preview
from bot.reminders.working_hours import DAY_NAMES, format_days, parse_days, parse_hours
from bot.services import Services
from bot.slack.publish import refresh_posted_checklists
from bot.user_input import ValueProblem, country_for_timezone, parse_country, parse_int, parse_timezone
from handlers.base import Request, actor_for, click_engagement
from handlers.engagement import require_engagement
from handlers.listening import listener
from storage.models import Engagement, saved_id

log = logging.getLogger("golive.handlers.settings")

# -- settings ------------------------------------------------------------------------------


def _apply_settings(req: Request, engagement_id: int, values: dict[str, str]) -> str:
    """Validate every value first, then save; replan when the calendar changed. Returns a summary."""
    services = req.services
    now = services.clock.now()
    with services.db.session() as session:
        engagement = session.get(Engagement, engagement_id)
        assert engagement is not None
        actor = actor_for(req, session, engagement)
        if not actor.is_vendor:
            raise cl.Refused("Only the implementation team changes the reminder settings.")
        changed: dict[str, Any] = {}
        if "tz" in values:
            changed["timezone"] = parse_timezone(values["tz"])
        if "country" in values:
            changed["country"] = (
                parse_country(values["country"])
                if values["country"].strip()
                else (country_for_timezone(changed.get("timezone", engagement.timezone)))
            )
        elif "timezone" in changed and changed["timezone"] != engagement.timezone:
            changed["country"] = country_for_timezone(changed["timezone"]) or engagement.country
        if "hours" in values:
            start, end = parse_hours(values["hours"])
            changed["work_start"], changed["work_end"] = start.strftime("%H:%M"), end.strftime("%H:%M")
        if "days" in values:
            changed["work_days"] = ",".join(str(d) for d in parse_days(values["days"]))
        if "cadence" in values:
            changed["cadence_days"] = parse_int(
                values["cadence"], "cadence (business days between nudges of an item)", 1, 10, "cadence=2"
            )
        calendar_changed = any(
            k in changed and changed[k] != getattr(engagement, k)
            for k in ("timezone", "country", "work_days")
        )
        for k, v in changed.items():
            setattr(engagement, k, v)
        engagement.updated_at = now
        session.add(engagement)
        session.flush()
        if calendar_changed:
            replan(session, engagement, services.playbook_for(engagement), now=now)
        sync_schedule(session, engagement, now)
        audit.record(session, saved_id(engagement), actor, "settings.changed", "settings", changed, now=now)
        return _settings_summary(engagement)


def _settings_summary(e: Engagement) -> str:
    days = format_days(tuple(int(d) for d in e.work_days.split(",")))
    return (
        f"Reminders follow {e.timezone}{f' (holidays of {e.country})' if e.country else ''}, "
        f"{e.work_start}-{e.work_end} {days}, each item at most every "
        + ("business day." if e.cadence_days == 1 else f"{e.cadence_days} business days.")
    )


def settings_view(services: Services, engagement: Engagement) -> dict[str, Any]:
    """The settings form of an engagement (from `/golive settings` or the App Home)."""
    days = [DAY_NAMES[int(d)] for d in engagement.work_days.split(",")]
    with services.db.read() as session:
        current = session.get(Engagement, engagement.id) or engagement
        coming = preview(session, current, services.clock.now())
    return services.renderer.view(
        "settings_modal.json.j2",
        preview=coming,
        tz=engagement.timezone,
        country=engagement.country,
        hours=f"{engagement.work_start}-{engagement.work_end}",
        days=days,
        day_names=DAY_NAMES,
        cadence=engagement.cadence_days,
        meta={"channel": engagement.channel_id, "engagement": engagement.id},
    )


def cmd_settings(req: Request, cmd: ParsedCommand) -> None:
    services = req.services
    engagement = require_engagement(req)
    if not cmd.options:
        req.ack()
        services.slack.open_view(req.trigger_id or "", settings_view(services, engagement))
        return
    try:
        summary = _apply_settings(req, saved_id(engagement), dict(cmd.options))
    except ValueProblem as exc:
        raise cmd.fail(str(exc)) from None
    req.ack(services.notice(f"Saved. {summary}"))
    refresh_posted_checklists(services, saved_id(engagement))


def _form_errors(values: dict[str, str]) -> dict[str, str]:
    """Every problem of the settings form at once, each under its own field."""
    checks: dict[str, Callable[[str], object]] = {
        "tz": parse_timezone,
        "country": lambda v: parse_country(v) if v.strip() else None,
        "hours": parse_hours,
        "days": parse_days,
        "cadence": lambda v: parse_int(v, "cadence (business days between nudges of an item)", 1, 10),
    }
    errors: dict[str, str] = {}
    for field, check in checks.items():
        try:
            check(values[field])
        except ValueProblem as exc:
            errors[field] = str(exc).replace("`", "")
    if not values["days"]:
        errors["days"] = "Pick at least one working day."
    return errors


def on_settings_submit(req: Request) -> None:
    services = req.services
    values = {
        "tz": req.text_field("tz"),
        "country": req.text_field("country"),
        "hours": req.text_field("hours"),
        "days": ",".join(req.field("days") or []),
        "cadence": req.field("cadence") or "",
    }
    errors = _form_errors(values)
    if errors:
        req.ack(response_action="errors", errors=errors)
        return
    with services.db.read() as session:
        engagement = click_engagement(req, session)
    summary = _apply_settings(req, saved_id(engagement), values)
    req.ack()
    req.reply(services.notice(f":white_check_mark: Saved. {summary}"))
    refresh_posted_checklists(services, saved_id(engagement))


def register(app: App, services: Services) -> None:
    app.view("settings")(listener(services, on_settings_submit))
