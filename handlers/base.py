"""What every listener needs: who is asking, where, and one way to answer.

`listener(services, fn)` wraps a handler function so that
- it receives a `Request` (payload facts, a tracked `ack`, `reply` for ephemeral answers);
- a `UserError` becomes a friendly ephemeral message;
- any other exception becomes a short apology with a reference id, and the log holds the
  same id with the traceback. The user never sees a raw error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk.webhook import WebhookClient
from sqlmodel import Session, select

from bot.engagement.lifecycle import active_in_channel
from bot.errors import UserError, new_reference
from bot.people.members import add_member
from bot.people.sides import Actor, resolve_actor
from bot.services import Services
from bot.slack.gateway import SlackCallFailed
from messages import Message
from storage.models import Engagement, Member

log = logging.getLogger("golive.handlers")


class Request:
    def __init__(self, services: Services, ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        self.services = services
        self._ack = ack
        self.body = body
        self.context = context
        self.acked = False

    # -- facts about the request -----------------------------------------------------------
    @property
    def kind(self) -> str:
        if "command" in self.body:
            return "command"
        return str(self.body.get("type") or "")

    @property
    def user_id(self) -> str:
        user = self.body.get("user")
        if isinstance(user, dict):
            return str(user.get("id"))
        return str(self.body.get("user_id") or user or (self.body.get("event") or {}).get("user") or "")

    @property
    def user_name(self) -> str:
        user = self.body.get("user")
        if isinstance(user, dict):
            return str(user.get("name") or user.get("username") or user.get("id"))
        return str(self.body.get("user_name") or self.user_id)

    @property
    def installing_team(self) -> str:
        team = self.body.get("team")
        return str(
            self.context.team_id
            or self.body.get("team_id")
            or (team.get("id") if isinstance(team, dict) else "")
            or ""
        )

    @property
    def user_team_id(self) -> str | None:
        """The clicker's home workspace: differs from the installing one for external users."""
        user = self.body.get("user")
        if isinstance(user, dict) and user.get("team_id"):
            return str(user["team_id"])
        return None

    @property
    def channel_id(self) -> str | None:
        if self.body.get("channel_id"):
            return str(self.body["channel_id"])
        channel = self.body.get("channel")
        if isinstance(channel, dict) and channel.get("id"):
            return str(channel["id"])
        container = self.body.get("container") or {}
        if container.get("channel_id"):
            return str(container["channel_id"])
        meta = self.metadata
        if meta.get("channel"):
            return str(meta["channel"])
        return None

    @property
    def trigger_id(self) -> str | None:
        return self.body.get("trigger_id")

    @property
    def message_ts(self) -> str | None:
        container = self.body.get("container") or {}
        return container.get("message_ts") or (self.body.get("message") or {}).get("ts")

    @property
    def metadata(self) -> dict[str, Any]:
        view = self.body.get("view") or {}
        raw = view.get("private_metadata") or ""
        try:
            value = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}

    @property
    def action(self) -> dict[str, Any]:
        actions = self.body.get("actions") or [{}]
        return dict(actions[0])

    @property
    def view(self) -> dict[str, Any]:
        return dict(self.body.get("view") or {})

    def field(self, block: str) -> Any:
        """The submitted value of a modal input (its action_id is `value`), whatever the element:
        text, date, user, selected option's value, or a list of checked values."""
        el = (((self.view.get("state") or {}).get("values") or {}).get(block) or {}).get("value") or {}
        kind = el.get("type")
        if kind == "datepicker":
            return el.get("selected_date")
        if kind == "users_select":
            return el.get("selected_user")
        if kind in ("static_select", "radio_buttons"):
            return (el.get("selected_option") or {}).get("value")
        if kind == "checkboxes":
            return [o.get("value") for o in el.get("selected_options") or []]
        return el.get("value")

    def text_field(self, block: str) -> str:
        """A text input with its whitespace tidied ("" when empty)."""
        return " ".join(str(self.field(block) or "").split())

    @property
    def choice(self) -> tuple[str, int]:
        """An overflow option chosen as `verb:id`, e.g. ("assign", 12)."""
        verb, _, raw = str((self.action.get("selected_option") or {}).get("value") or "").partition(":")
        return verb, int(raw or 0)

    def action_number(self) -> int:
        """The number at the end of the action id, e.g. 12 in `nudge_done:12`."""
        return int(str(self.action.get("action_id", "")).rsplit(":", 1)[-1])

    # -- answering -------------------------------------------------------------------------
    def ack(self, message: Message | None = None, **kwargs: Any) -> None:
        if self.acked:
            return
        self.acked = True
        if message is not None:
            self._ack(text=message.text, blocks=message.blocks, response_type="ephemeral")
        elif kwargs:
            self._ack(**kwargs)
        else:
            self._ack()

    def reply(self, message: Message) -> None:
        """Answer only the requesting user: in the ack when possible, else ephemerally."""
        if not self.acked and self.kind == "command":
            self.ack(message)
            return
        self.ack()
        response_url = self.body.get("response_url")
        if response_url and self.kind == "command":
            resp = WebhookClient(response_url, timeout=10).send(
                text=message.text, blocks=message.blocks, response_type="ephemeral"
            )
            if resp.status_code == 200:
                return
            log.warning("response_url answered %s", resp.status_code)
        channel = self.channel_id
        if channel:
            try:
                self.services.slack.ephemeral(channel, self.user_id, message)
                return
            except SlackCallFailed as exc:
                log.info("ephemeral to %s in %s refused (%s); sending a DM", self.user_id, channel, exc.error)
        try:
            self.services.slack.dm(self.user_id, message)
        except SlackCallFailed as exc:
            log.warning("could not reply to %s: %s", self.user_id, exc.error)


def click_engagement(req: Request, session: Session) -> Engagement:
    """The active engagement of the channel a click or form came from."""
    engagement = active_in_channel(session, req.channel_id or "")
    if engagement is None:
        raise UserError("This message belongs to an engagement that is no longer active.")
    return engagement


def remember(
    s: Services, engagement_id: int, user_id: str, added_by: str, team_id: str | None = None
) -> None:
    """Record someone who acted or was assigned: name and home team from users.info (cached).
    `team_id` is the home team a click payload told us, used when users.info cannot see them."""
    with s.db.read() as session:
        known = session.exec(
            select(Member).where(Member.engagement_id == engagement_id, Member.user_id == user_id)
        ).first()
    if known is not None and known.team_id and known.display_name:
        return  # nothing to learn: no Slack call, no write
    profile = s.slack.profile(user_id)
    if profile.is_bot:
        return
    with s.db.session() as session:
        engagement = session.get(Engagement, engagement_id)
        if engagement is not None:
            add_member(
                session,
                engagement,
                user_id=user_id,
                team_id=profile.team_id or team_id,
                display_name=profile.name,
                added_by=added_by,
                now=s.clock.now(),
            )


def actor_for(req: Request, session: Session, engagement: Engagement) -> Actor:
    """The requesting user; commands come from the installing workspace, clicks say their team."""
    home = req.user_team_id or (req.body.get("team_id") if req.kind == "command" else None)
    return resolve_actor(session, engagement, user_id=req.user_id, home_team=home, name=req.user_name)


Handler = Callable[[Request], None]


def listener(services: Services, fn: Handler) -> Callable[..., None]:
    """Adapt `fn(Request)` to a Bolt listener with the error policy above."""

    def bolt_listener(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        req = Request(services, ack, body, context)
        try:
            fn(req)
        except UserError as exc:
            req.reply(services.error(exc.message, exc.usage))
        except Exception:
            ref = new_reference()
            log.exception(
                "[ref %s] %s failed for user %s", ref, getattr(fn, "__name__", "listener"), req.user_id
            )
            try:
                req.reply(services.renderer.message("apology.json.j2", ref=ref))
            except Exception:
                log.exception("[ref %s] could not send the apology", ref)
        finally:
            if not req.acked:
                req.ack()

    bolt_listener.__name__ = getattr(fn, "__name__", "bolt_listener")
    return bolt_listener
