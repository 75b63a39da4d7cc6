"""People: roles (`/golive role`, `/golive team`, the team modal), sides (`/golive side`) and the
audit trail (`/golive audit`)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection
from typing import Any

from slack_bolt import App
from sqlmodel import col, select

from bot.commands import ParsedCommand
from bot.engagement.checklist import Refused
from bot.errors import UserError
from bot.people import audit, roles
from bot.people.members import add_member
from bot.people.organisations import pin_customer
from bot.people.sides import CUSTOMER, VENDOR
from bot.services import Services
from bot.slack.gateway import Profile, SlackCallFailed
from bot.slack.home import refresh_homes
from bot.slack.notes import tell_named
from bot.slack.publish import refresh_welcome
from bot.slack.uploads import refusal_reason, retryable
from bot.slacktext import plain_text, user_id_from_token
from handlers.base import Request, actor_for, click_engagement
from handlers.engagement import require_engagement
from handlers.listening import after_ack, listener
from handlers.signoffs import update_request_message
from messages import Mention, fmt
from storage.models import Engagement, Gate, Member, SignoffRequest, id_col, saved_id

log = logging.getLogger("golive.handlers.team")

REMOVE = re.compile(r"^team_remove:(\d+)$")
ROLE_ALIASES = {
    "main-contact": "main_contact",
    "maincontact": "main_contact",
    "contact": "main_contact",
    "it-admin": "it_admin",
    "itadmin": "it_admin",
}
AUDIT_SUMMARY_ROWS = 20


def _gate_titles(services: Services, engagement_id: int) -> dict[str, str]:
    with services.db.read() as session:
        return {g.key: g.title for g in session.exec(select(Gate).where(Gate.engagement_id == engagement_id))}


def after_roles_changed(services: Services, engagement_id: int, removed: Collection[str] = ()) -> None:
    """After roles changed. Open sign-off requests show who may approve: keep them true when
    approvers change; a new lead or consultant sees the engagement in their Home's portfolio, and
    someone whose role was `removed` no longer does."""
    refresh_homes(services, engagement_id, also=removed)
    with services.db.read() as session:
        ids = session.exec(
            select(id_col(SignoffRequest.id))
            .join(Gate, col(Gate.id) == col(SignoffRequest.gate_id))
            .where(Gate.engagement_id == engagement_id, SignoffRequest.status == "open")
        ).all()
    for request_id in ids:
        update_request_message(services, request_id)


def _add_role(
    req: Request, engagement_id: int, user: str, role: str, gate: str, profile: Profile | None = None
) -> roles.RoleRow | None:
    services = req.services
    profile = profile or services.slack.profile(user)
    if not profile.found:
        raise UserError("I can't find that person in Slack; mention someone in this channel.")
    if profile.is_bot:
        raise UserError("Bots can't hold roles.")
    with services.db.session() as session:
        engagement = session.get(Engagement, engagement_id)
        assert engagement is not None
        actor = actor_for(req, session, engagement)
        row = roles.set_role(
            session,
            engagement,
            actor,
            user_id=user,
            team_id=profile.team_id,
            name=profile.name,
            role=role,
            gate_key=gate,
            now=services.clock.now(),
            enterprise_id=profile.enterprise_id,
        )
    if row is not None:
        tell_named(services, engagement_id, user, role, gate, req.user_id)
        if role == "main_contact":
            refresh_welcome(services, engagement_id)  # it asked for one until now
    return row


def cmd_role(req: Request, cmd: ParsedCommand) -> None:
    if len(cmd.words) < 2:
        raise cmd.fail("Mention the person and the role.")
    user = user_id_from_token(cmd.words[0])
    if user is None:
        raise cmd.fail(f"`{plain_text(cmd.words[0])[:40]}` is not a person I can find; mention them with @.")
    role = ROLE_ALIASES.get(cmd.words[1].lower(), cmd.words[1].lower())
    if role not in (*roles.ROLES, "remove"):
        raise cmd.fail(
            f"`{plain_text(role)[:20]}` is not a role; use approver, contributor, sponsor, main_contact, "
            "it_admin or consultant."
        )
    gate = (cmd.options.get("gate") or roles.ALL_GATES).strip().lower()
    engagement = require_engagement(req)
    # users.info may be slow: acked once the command is in the inbox; everything else comes after
    # and answers through response_url.
    if role == "remove":
        gone = ROLE_ALIASES.get(cmd.words[2].lower(), cmd.words[2].lower()) if len(cmd.words) > 2 else None
        after_ack(req, lambda r: _remove_by_command(r, engagement, user, gone))
        return
    after_ack(req, lambda r: _role_by_command(r, saved_id(engagement), user, role, gate))


def _role_by_command(req: Request, engagement_id: int, user: str, role: str, gate: str) -> Callable[[], None]:
    """Give the role. Had it already (a second command, a replay): said, nothing written."""
    services = req.services
    row = _add_role(req, engagement_id, user, role, gate)
    if row is None:
        return lambda: req.reply(services.notice("They already have that role; nothing changed."))
    scope = f" for {_gate_titles(services, engagement_id).get(gate, gate)}" if gate != roles.ALL_GATES else ""
    said = services.notice(
        fmt(
            "{who} is now {role}{scope} in this engagement.",
            who=Mention(user),
            role=roles.with_article(role),
            scope=scope,
        )
    )
    after_roles_changed(services, engagement_id)
    return lambda: req.reply(said)


def _remove_by_command(
    req: Request, engagement: Engagement, user: str, role: str | None
) -> Callable[[], None]:
    """Remove the roles. None left to remove (a replay of a removal done): said, nothing written."""
    services = req.services
    with services.db.session() as session:
        engagement = session.get(Engagement, engagement.id) or engagement
        rows = [
            r
            for r in roles.team(session, engagement)
            if r.user_id == user and (role is None or r.role == role)
        ]
        if not rows:
            raise UserError("They have no such role here; nothing changed.")
        actor = actor_for(req, session, engagement)
        for r in rows:
            roles.remove_role(session, engagement, actor, r.role_id, services.clock.now())
    if any(r.role == "main_contact" for r in rows):
        refresh_welcome(services, saved_id(engagement))  # it asks for one again
    removed = ", ".join(roles.role_label(r.role) for r in rows)
    said = services.notice(
        fmt(
            "Removed {who}'s {what}: {roles}.",
            who=Mention(user),
            what="role" if len(rows) == 1 else "roles",
            roles=removed,
        )
    )
    after_roles_changed(services, saved_id(engagement), removed=[user])
    return lambda: req.reply(said)


def on_main_contact_pick(req: Request) -> None:
    """Someone picked the customer's main contact on the welcome: the implementation team, or any
    of the customer's people (it is their call who speaks for them day to day). Acked once the
    pick is in the inbox; the role is given after."""
    services = req.services
    user = (req.action or {}).get("selected_user")
    if not user:
        req.ack()
        return
    with services.db.read() as session:
        engagement = click_engagement(req, session)
    after_ack(req, lambda r: _main_contact(r, engagement, str(user)))


def _main_contact(req: Request, engagement: Engagement, user: str) -> Callable[[], None]:
    """Named already (a second pick, a replay): said, nothing written."""
    services = req.services
    try:
        row = _add_role(req, saved_id(engagement), user, "main_contact", roles.ALL_GATES)
    except UserError:
        refresh_welcome(services, saved_id(engagement))  # the menu shows nobody picked again
        raise
    if row is None:
        already = services.notice(
            fmt("{who} already is the main contact; nothing changed.", who=Mention(user))
        )
        return lambda: req.reply(already)
    said = services.notice(
        fmt(
            "{who} is now {customer}'s main contact: reminders of items nobody else at {customer} is "
            "named for go to them.",
            who=Mention(user),
            customer=engagement.customer_name,
        )
    )
    after_roles_changed(services, saved_id(engagement))
    return lambda: req.reply(said)


def cmd_team(req: Request, cmd: ParsedCommand) -> None:
    services = req.services
    engagement = require_engagement(req)
    with services.db.read() as session:
        rows = roles.team(session, engagement)
    req.ack(
        services.renderer.message(
            "team.json.j2",
            customer_name=engagement.customer_name,
            rows=rows,
            gates=_gate_titles(services, saved_id(engagement)),
            command=services.command,
        )
    )


def _team_view(
    services: Services,
    engagement: Engagement,
    channel: str | None,
    note: str | None = None,
    problem: str | None = None,
) -> dict[str, Any]:
    """The team form. `note`: what the last submission did; `problem`: why the person picked
    could not be given the role, shown under the Person field."""
    with services.db.session() as session:
        rows = roles.team(session, engagement)
    return services.renderer.view(
        "team_modal.json.j2",
        rows=rows,
        gates=_gate_titles(services, saved_id(engagement)),
        meta={"channel": channel},
        note=note,
        problem=problem,
    )


def on_team_button(req: Request) -> None:
    req.ack()
    services = req.services
    with services.db.session() as session:
        engagement = click_engagement(req, session)
        if not actor_for(req, session, engagement).is_vendor:
            raise UserError("Only the implementation team manages roles.")
    # The form acts on the engagement's channel, also when opened from a direct message.
    services.slack.open_view(req.trigger_id or "", _team_view(services, engagement, engagement.channel_id))


def on_team_remove(req: Request) -> None:
    """Remove in the team form: acked once the click is in the inbox, removed after, and the form
    shows it. Gone already (a second click, a replay): "already gone", nothing written."""
    role_id = req.action_number()
    after_ack(req, lambda r: _team_remove(r, role_id))


def _team_remove(req: Request, role_id: int) -> Callable[[], object]:
    services = req.services
    with services.db.session() as session:
        engagement = click_engagement(req, session)
        gone = roles.remove_role(
            session, engagement, actor_for(req, session, engagement), role_id, services.clock.now()
        )
    if gone.role == "main_contact":
        refresh_welcome(services, saved_id(engagement))
    after_roles_changed(services, saved_id(engagement), removed=[gone.user_id])
    view_id, clicked = req.view["id"], req.view.get("hash")

    # With the hash the click saw: a form changed since (a second Remove's answer landing first)
    # is not overwritten by this older rendering.
    return lambda: services.slack.update_view_newest(
        view_id, lambda: _team_view(services, engagement, req.channel_id), view_hash=clicked
    )


def on_person_picked(req: Request) -> None:
    """Someone was picked in the team form: look them up now (users.info, cached), so the
    submit can be answered at once, in the form."""
    req.ack()
    user = (req.action or {}).get("selected_user")
    if user:
        req.services.slack.profile(user)


def _form_text(message: str) -> str:
    """A refusal as the form shows it: plain text, so no code marks."""
    return message.replace("`", "")


def on_team_submit(req: Request) -> None:
    """Add a role from the team form. The form stays open and shows what happened, whoever is
    picked: when the person was looked up already (picking them does it), a refusal is the Person
    field's error at once; when not, the form says it is looking them up (users.info may be slow,
    so it is asked after the ack) and is then updated with the outcome."""
    services = req.services
    user = req.field("person")
    role = req.field("role")
    gate = req.field("gate") or roles.ALL_GATES
    with services.db.read() as session:
        engagement = click_engagement(req, session)
    errors: dict[str, str] = {}
    if gate != roles.ALL_GATES and role != "approver":
        errors["gate"] = "Only approvers are named per gate; choose Every gate for this role."
    profile = services.slack.cached_profile(user) if user else None
    if profile is not None and not errors:
        # Known person: no Slack call before the ack, so the answer goes in the ack itself.
        try:
            row = _add_role(req, saved_id(engagement), user, role, gate, profile)
        except UserError as exc:
            errors["person"] = _form_text(exc.message)
        else:
            req.ack(
                response_action="update",
                view=_team_view(services, engagement, req.channel_id, note=_added(profile.name, role, row)),
            )
            after_roles_changed(services, saved_id(engagement))
            return
    if errors:
        req.ack(response_action="errors", errors=errors)
        return
    # Not looked up yet: the form stays open while users.info answers, after the ack.
    view_id = str(req.view.get("id") or "")
    engagement_id, channel = saved_id(engagement), req.channel_id

    def work(r: Request) -> Callable[[], None]:
        try:
            row = _add_role(r, engagement_id, user, role, gate)
        except UserError as exc:
            problem = _form_text(exc.message)

            def show_problem() -> None:
                r.wait_answered()
                services.slack.update_view(
                    view_id, _team_view(services, engagement, channel, problem=problem)
                )

            return show_problem

        def show_added() -> None:
            name = services.slack.profile(user).name
            r.wait_answered()
            services.slack.update_view(
                view_id, _team_view(services, engagement, channel, note=_added(name, role, row))
            )
            after_roles_changed(services, engagement_id)

        return show_added

    after_ack(
        req,
        work,
        response_action="update",
        view=_team_view(
            services, engagement, channel, note=":hourglass_flowing_sand: Looking them up in Slack…"
        ),
    )


def _added(name: str, role: str, row: roles.RoleRow | None) -> str:
    if row is None:
        return f"{name} already has that role; nothing changed."
    return f":white_check_mark: {name} is now {roles.with_article(role)}."


def cmd_audit(req: Request, cmd: ParsedCommand) -> None:
    """The channel gets the trail both sides may read: it is shared with the customer and maybe a
    third organisation. The rows that are the implementation team's alone (escalations, the
    lead's snoozes, flags: `audit.vendor_only`) go only to a vendor person who asks, in a direct
    message: a file shared there (files.completeUploadExternal's `channel_id`, the DM that
    conversations.open gives) is seen by them alone, while one uploaded with no channel stays
    private to the bot ("If not specified the file will be private",
    https://docs.slack.dev/reference/methods/files.completeUploadExternal/). An ephemeral message
    can carry no file."""
    services = req.services
    engagement = require_engagement(req, finished_ok=True)
    req.ack()
    with services.db.read() as session:
        actor = actor_for(req, session, engagement, acting=False)
        trail = audit.trail(session, engagement)
    shared = trail.shared
    hidden = len(trail.rows) - len(shared)
    stamp = services.clock.now().strftime("%Y%m%d-%H%M")
    refused: str | None = None
    again = False
    try:
        # The title and comment carry the customer's name: escaped like every other text we
        # send, so a name typed as `<!channel> Corp` cannot ping both organisations.
        services.slack.upload_file(
            engagement.channel_id,
            filename=f"golive-audit-{engagement.id}-{stamp}.csv",
            content=trail.as_csv(everything=False),
            title=fmt("Audit trail — {name}", name=engagement.customer_name),
            initial_comment=fmt(
                "Audit trail of the {name} implementation: {n} entries.",
                name=engagement.customer_name,
                n=len(shared),
            ),
        )
    except SlackCallFailed as exc:
        log.info("audit upload refused (%s); sending the summary", exc.error)
        # Said as people read it; "not now" (a 429 or 5xx the client retried already) asks for a
        # second try, anything else is a refusal (bot.slack.uploads).
        refused, again = refusal_reason(exc), retryable(exc)
    private = ""
    if hidden and actor.is_vendor:
        # users.info (cached for a day) says whether they are a guest; unknown counts as one.
        profile = services.slack.cached_profile(req.user_id) or services.slack.profile(req.user_id)
        if audit.may_read_vendor_rows(actor, guest=profile.is_guest or not profile.found):
            private = _send_whole_trail(req, trail, hidden, stamp)
        elif not profile.found:
            private = (
                "Slack couldn't tell me who you are just now, so I sent you nothing more than the "
                f"channel's copy; `golive audit {engagement.id}` on the command line exports the "
                "whole trail."
            )
    if refused is not None:
        req.reply(
            services.renderer.message(
                "audit_summary.json.j2",
                customer_name=engagement.customer_name,
                rows=shared[-AUDIT_SUMMARY_ROWS:],
                total=len(shared),
                error=refused,
                again=again,
                private=private,
            )
        )
    elif private:
        req.reply(
            services.notice(
                f"Shared the {len(shared)} entries both sides may read in this channel. {private}"
            )
        )


def _send_whole_trail(req: Request, trail: audit.Trail, hidden: int, stamp: str) -> str:
    """The whole trail as CSV in the asker's direct message with the bot; what to tell them."""
    services = req.services
    engagement = trail.engagement
    entries = "entry" if hidden == 1 else "entries"
    try:
        services.slack.upload_file(
            services.slack.open_dm(req.user_id),
            filename=f"golive-audit-{engagement.id}-{stamp}-full.csv",
            content=trail.as_csv(everything=True),
            title=fmt("Full audit trail — {name}", name=engagement.customer_name),
            initial_comment=fmt(
                "The full audit trail of the {name} implementation, for you only: {n} entries, "
                "{k} of them the implementation team's own (escalations, snoozes chosen by the lead, "
                "flags, paused reminders), which the channel's copy leaves out.",
                name=engagement.customer_name,
                n=len(trail.rows),
                k=hidden,
            ),
        )
    except SlackCallFailed as exc:
        log.info("private audit upload refused (%s)", exc.error)
        return (
            f"I couldn't send you the {hidden} {entries} for the implementation team only in a direct "
            f"message ({exc.error}); `golive audit {engagement.id}` on the command line exports the "
            "whole trail."
        )
    return (
        f"The full trail, with the {hidden} {entries} for the implementation team only, is in your "
        "direct messages with me."
    )


def register(app: App, services: Services) -> None:
    app.action("team_manage")(listener(services, on_team_button))
    app.action(REMOVE)(listener(services, on_team_remove))
    app.view("team_add")(listener(services, on_team_submit))
    app.action({"block_id": "person", "action_id": "value"})(listener(services, on_person_picked))
    app.action("main_contact_pick")(listener(services, on_main_contact_pick))


def cmd_side(req: Request, cmd: ParsedCommand) -> None:
    services = req.services
    if len(cmd.words) != 2 or cmd.words[1].lower() not in (VENDOR, CUSTOMER):
        raise cmd.fail("Mention the person and the side, e.g. `side @ada customer`.")
    user = user_id_from_token(cmd.words[0])
    if user is None:
        raise cmd.fail(f"`{plain_text(cmd.words[0])[:40]}` is not a person I can find; mention them with @.")
    side = cmd.words[1].lower()
    engagement = require_engagement(req)
    with services.db.session() as session:
        actor = actor_for(req, session, engagement)
        if not actor.is_vendor:
            raise Refused("Only the implementation team can change sides.")
        added = add_member(
            session,
            engagement,
            user_id=user,
            team_id=None,
            display_name="",
            added_by=req.user_id,
            now=services.clock.now(),
        )
        member = session.get(Member, saved_id(added))
        assert member is not None
        member.side_override = side
        session.add(member)
        audit.record(
            session,
            saved_id(engagement),
            actor,
            "side.changed",
            user,
            {"user": user, "side": side},
            now=services.clock.now(),
        )
    req.ack(
        services.notice(
            fmt("{who} now counts as the {side} side in this engagement.", who=Mention(user), side=side)
        )
    )


def cmd_customer(req: Request, cmd: ParsedCommand) -> None:
    """`customer`: which organisation is the customer; `customer @person`: make it theirs."""
    services = req.services
    engagement = require_engagement(req)
    if not cmd.words:
        with services.db.read() as session:
            people = [
                m.display_name or m.user_id
                for m in session.exec(select(Member).where(Member.engagement_id == engagement.id)).all()
                if engagement.customer_team_id and m.team_id == engagement.customer_team_id
            ]
        if not engagement.customer_team_id and not engagement.customer_enterprise_id:
            text = (
                f"No organisation is set as {engagement.customer_name} yet; people of other organisations "
                f"can read along but not act. Set it with `{services.command} customer @someone-from-the-customer`."
            )
        else:
            known = f" ({', '.join(people[:5])}{'…' if len(people) > 5 else ''})" if people else ""
            text = (
                f"{engagement.customer_name} is the organisation with Slack team id "
                f"`{engagement.customer_team_id or engagement.customer_enterprise_id}`{known}. "
                f"Change it with `{services.command} customer @someone-from-the-customer`."
            )
        req.ack(services.notice(fmt("{text}", text=text)))
        return
    user = user_id_from_token(cmd.words[0])
    if user is None or len(cmd.words) > 1:
        raise cmd.fail("Mention one person of the customer's organisation, e.g. `customer @ada`.")
    # users.info may be slow: acked once the command is in the inbox; the answer goes through
    # response_url.
    after_ack(req, lambda r: _pin_customer(r, engagement, user))


def _pin_customer(req: Request, engagement: Engagement, user: str) -> Callable[[], None]:
    """Theirs already (a second command, a replay): said, nothing written (`pin_customer`)."""
    services = req.services
    profile = services.slack.profile(user)
    if not profile.found or not profile.team_id:
        raise UserError(
            "I can't tell which organisation that person belongs to; mention someone in this channel."
        )
    if profile.is_bot:
        raise UserError("A bot can't stand for the customer's organisation.")
    with services.db.session() as session:
        e = session.get(Engagement, engagement.id)
        assert e is not None
        actor = actor_for(req, session, e)
        if not actor.is_vendor:
            raise Refused("Only the implementation team says which organisation is the customer.")
        changed = pin_customer(
            session,
            e,
            team_id=profile.team_id,
            enterprise_id=profile.enterprise_id,
            actor=actor,
            how="set by a consultant",
            now=services.clock.now(),
        )
    if not changed:
        already = services.notice(
            fmt("{who}'s organisation already is the customer; nothing changed.", who=Mention(user))
        )
        return lambda: req.reply(already)
    said = services.notice(
        fmt(
            "{who}'s organisation is now {customer}: its people can tick customer items and be named "
            "approvers. People of other organisations read along until given a side.",
            who=Mention(user),
            customer=engagement.customer_name,
        )
    )
    after_roles_changed(services, saved_id(engagement))
    return lambda: req.reply(said)
