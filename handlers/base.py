"""What every listener needs: who is asking, where, and one way to answer.

A handler receives a `Request` (payload facts, a tracked `ack`, `reply` for ephemeral answers)
and finds here the engagement a click belongs to and who is acting. How a listener runs (its
error policy, and work after the ack) is in `handlers.listening`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from slack_bolt import Ack, BoltContext, BoltRequest
from slack_sdk.webhook import WebhookClient
from sqlalchemy import bindparam
from sqlmodel import Session, select

from bot.engagement import checklist as cl
from bot.engagement.lifecycle import active_in_channel
from bot.errors import UserError
from bot.people.members import add_member, lead_of
from bot.people.organisations import pin_customer, the_customer_team
from bot.people.sides import CUSTOMER, CUSTOMER_UNKNOWN, ORG_UNKNOWN, Actor, Known, NoSide, resolve_actor
from bot.refs import parse_choice, parse_id
from bot.services import Services
from bot.slack.gateway import Profile, SlackCallFailed
from bot.slack.nudges import DIRECT_KINDS
from bot.slack.reach import tell_privately
from bot.slack.sealing import unseal
from messages import Message
from storage.models import Engagement, EngagementPhase, Item, Member, PostedMessage, saved_id

log = logging.getLogger("golive.handlers")


ANSWERED = "golive_answered"
"""Context key of an event the HTTP server sets once the ack's response is written."""
REPLAY = "golive_inbox_row"
"""Context key of the inbox row (`storage.inbox`) a replayed request comes from: its 200 went out
from the process that recorded it (`golive.inbox`)."""
RECEIVED = "golive_received_at"
"""Context key of when a replayed request was received (seconds since the epoch)."""
ANSWER_MARGIN = 1.0
"""Seconds after a request was received by which the process that recorded it has answered it."""


class Request:
    def __init__(
        self,
        services: Services,
        ack: Ack,
        body: dict[str, Any],
        context: BoltContext,
        raw: BoltRequest | None = None,
    ) -> None:
        self.services = services
        self.raw = raw  # the BoltRequest (its body and headers are recorded: `after_ack`)
        self._ack = ack
        self.body = body
        self.context = context
        self.acked = False
        # Set once the ack is given: the listener's thread answers Slack then (`listening.listener`).
        self.ack_given = threading.Event()
        self._ack_lock = threading.Lock()
        # users.info of the requesting user, when their side needs it (see `identify`).
        self.profile: Profile | None = None
        # The inbox row of this request's work after the ack, once `after_ack` recorded it.
        self.inbox_row: int | None = None

    @property
    def replaying(self) -> int | None:
        """The inbox row this request is replayed from (its process died before the work was
        done), or None for a request as Slack sent it."""
        row = self.context.get(REPLAY)
        return int(row) if row is not None else None

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
        if self.profile is not None and self.profile.team_id:
            return self.profile.team_id
        return None

    @property
    def install_enterprise_id(self) -> str | None:
        """The Enterprise Grid org the app is installed in (commands: `enterprise_id`;
        interactions: `enterprise.id`), None outside Grid."""
        if self.body.get("enterprise_id"):
            return str(self.body["enterprise_id"])
        ent = self.body.get("enterprise")
        if isinstance(ent, dict) and ent.get("id"):
            return str(ent["id"])
        return None

    @property
    def user_enterprise_id(self) -> str | None:
        """The requesting user's Grid org: a command comes from the installing org; for a click it
        is only known from users.info (a payload's `enterprise` describes the install)."""
        if self.kind == "command":
            return self.install_enterprise_id
        return self.profile.enterprise_id if self.profile is not None else None

    @property
    def is_interaction(self) -> bool:
        return self.kind in ("block_actions", "view_submission", "view_closed", "block_suggestion")

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
        """The form's private_metadata, only when it carries the bot's seal ({} otherwise)."""
        return self.sealed_metadata() or {}

    def sealed_metadata(self) -> dict[str, Any] | None:
        view = self.body.get("view") or {}
        raw = view.get("private_metadata") or ""
        if not raw:
            return {}
        return unseal(str(raw), self.services.slack.seal_key)

    @property
    def action(self) -> dict[str, Any]:
        actions = self.body.get("actions") or [{}]
        return dict(actions[0])

    @property
    def view(self) -> dict[str, Any]:
        return dict(self.body.get("view") or {})

    def field(self, block: str) -> Any:
        """The submitted value of a modal input (its action_id is `value`), whatever the element:
        text, date, user, selected option's value, or a list of checked values or of users."""
        el = (((self.view.get("state") or {}).get("values") or {}).get(block) or {}).get("value") or {}
        kind = el.get("type")
        if kind == "datepicker":
            return el.get("selected_date")
        if kind == "users_select":
            return el.get("selected_user")
        if kind == "multi_users_select":
            return list(el.get("selected_users") or [])
        if kind in ("static_select", "radio_buttons"):
            return (el.get("selected_option") or {}).get("value")
        if kind == "multi_static_select":
            return [o.get("value") for o in el.get("selected_options") or []]
        if kind == "checkboxes":
            return [o.get("value") for o in el.get("selected_options") or []]
        return el.get("value")

    def text_field(self, block: str) -> str:
        """A text input with its whitespace tidied ("" when empty)."""
        return " ".join(str(self.field(block) or "").split())

    @property
    def choice(self) -> tuple[str, int]:
        """An overflow option chosen as `verb:id`, e.g. ("assign", 12); a malformed or forged
        one is a friendly "out of date" error, never an apology."""
        return parse_choice((self.action.get("selected_option") or {}).get("value"))

    def action_number(self) -> int:
        """The number at the end of the action id, e.g. 12 in `nudge_done:12`."""
        return parse_id(str(self.action.get("action_id", "")).rsplit(":", 1)[-1])

    def meta_id(self, key: str) -> int:
        """An id the bot sealed into the form's metadata."""
        return parse_id(self.metadata.get(key))

    # -- answering -------------------------------------------------------------------------
    def ack(self, message: Message | None = None, **kwargs: Any) -> None:
        with self._ack_lock:  # the handler's thread, or the listener's giving up waiting for it
            if self.acked:
                return
            self.acked = True
        try:
            if self.replaying is not None:
                # Slack had its answer from the process that recorded the request: this ack goes
                # nowhere, so a message it carried goes to the user as a reply does.
                self._ack()
                self.ack_given.set()
                if message is not None:
                    self.reply(message)
                return
            if isinstance(kwargs.get("view"), dict):
                kwargs["view"] = self.services.slack.seal(kwargs["view"])
            if message is not None:
                self._ack(text=message.text, blocks=message.blocks, response_type="ephemeral")
            elif kwargs:
                self._ack(**kwargs)
            else:
                self._ack()
        finally:
            self.ack_given.set()

    def wait_answered(self, timeout: float = 2.0) -> None:
        """Wait (briefly) until the ack's HTTP response has been written, before a Slack call that
        must land after what the ack said: a `views.update` racing a `response_action: update`
        could otherwise be overwritten by it. A request replayed from the inbox (under `golive
        serve` the inbox process takes it within milliseconds, maybe before the request process
        has written its answer) waits until `ANSWER_MARGIN` after it was received. Socket Mode and
        tests without the HTTP server carry no such event and do not wait."""
        answered = self.context.get(ANSWERED)
        if answered is not None:
            answered.wait(timeout)
            return
        received = self.context.get(RECEIVED)
        if received is not None:
            time.sleep(max(0.0, min(timeout, float(received) + ANSWER_MARGIN - time.time())))

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
        # A DM, or for someone Slack will not let the bot DM (another organisation's person) an
        # ephemeral in a channel of theirs (`bot.slack.reach`).
        tell_privately(
            self.services.slack,
            self.services.db,
            self.user_id,
            message,
            team_id=self.user_team_id,
            tried=[channel] if channel else [],
        )


NOT_ACTIVE = "This message belongs to an engagement that is no longer active."
NOT_OURS = (
    "I couldn't find that message among the ones I posted for this engagement, so nothing was "
    "changed. Use the buttons on my latest message in the engagement's channel."
)
FORM_NOT_OURS = (
    "I couldn't verify that this form came from me, so nothing was changed. Open it again from the message."
)


# The ledger row of the message clicked (built once, see lifecycle._ACTIVE_IN_CHANNEL).
_POSTED = select(PostedMessage).where(
    PostedMessage.channel_id == bindparam("channel"), PostedMessage.ts == bindparam("ts")
)


def click_engagement(req: Request, session: Session) -> Engagement:
    """The engagement a click or a form belongs to, which must still be active.

    A form acts on the engagement sealed into the metadata of the form the bot opened, and a click
    inside a form (no message) on the active engagement of the channel sealed there.

    A click on a message acts on the engagement of the message clicked, found in the ledger of
    what the bot posted (`PostedMessage`, by channel and ts): a message that is not there is not
    one of ours for any engagement, and the click is refused (`NOT_OURS`) — never taken for the
    channel's engagement, so a payload naming channel C with a message of another channel, or a
    made-up ts, changes nothing. Slack's `block_actions` payload says where the click came from
    in its `container` (type `message` with `message_ts`, `channel_id` and `is_ephemeral`, or
    type `view`: https://docs.slack.dev/reference/interaction-payloads/block_actions-payload).
    An ephemeral message ("only visible to you": a command's answer, a picker) has no ledger
    row — a command's answer is never given a ts we could record — so a click on one acts on the
    channel's active engagement, as a command there does.
    """
    if req.kind.startswith("view"):
        meta = req.sealed_metadata()
        if meta is None:
            raise UserError(FORM_NOT_OURS)
        engagement = active_in_channel(session, str(meta.get("channel") or ""))
        wanted = meta.get("engagement")
        if engagement is None or (wanted is not None and str(engagement.id) != str(wanted)):
            raise UserError(NOT_ACTIVE)
        return engagement
    container = req.body.get("container") or {}
    if container.get("type") == "view":  # the channel the bot sealed into the form's metadata
        return _channel_engagement(session, str(req.metadata.get("channel") or ""))
    if container.get("is_ephemeral") is True:
        posted = _ledger_row(req, session)
        if posted is not None:
            return _posted_engagement(session, posted, req)
        return _channel_engagement(session, req.channel_id or "")
    posted = _ledger_row(req, session, strict=True)
    if posted is None:
        log.info(
            "click by %s on a message not in the ledger (channel %s, ts %s): refused",
            req.user_id,
            req.channel_id,
            req.message_ts,
        )
        raise UserError(NOT_OURS)
    return _posted_engagement(session, posted, req)


def _ledger_row(req: Request, session: Session, *, strict: bool = False) -> PostedMessage | None:
    """The ledger row of the message clicked, None when there is none. `strict`: the payload must
    name one message — its channel and its ts the same wherever the payload says them (`channel`
    and `container.channel_id`; `message.ts` and `container.message_ts`) — and that message must
    be ours for an engagement."""
    container = req.body.get("container") or {}
    channel, ts = req.channel_id or "", req.message_ts
    if strict:
        channels = (
            req.body.get("channel_id"),
            (req.body.get("channel") or {}).get("id"),
            container.get("channel_id"),
        )
        said_channels = {str(c) for c in channels if c}
        said_ts = {
            str(t) for t in (container.get("message_ts"), (req.body.get("message") or {}).get("ts")) if t
        }
        if len(said_channels) != 1 or len(said_ts) != 1:
            return None
    if not ts:
        return None
    posted = session.exec(_POSTED, params={"channel": channel, "ts": ts}).first()
    if posted is None or (strict and posted.engagement_id is None):
        return None
    return posted


def _posted_engagement(session: Session, posted: PostedMessage, req: Request) -> Engagement:
    """The engagement of a message the bot posted, which must still be active. A direct message
    the bot sent about the engagement (a reminder of someone's items, "nobody is named") acts on
    it from outside its channel; any other message only in its engagement's channel."""
    if posted.engagement_id is None:
        return _channel_engagement(session, req.channel_id or "")
    engagement = session.get(Engagement, posted.engagement_id)
    elsewhere = engagement is not None and engagement.channel_id != posted.channel_id
    if engagement is None or engagement.status != "active" or (elsewhere and posted.kind not in DIRECT_KINDS):
        raise UserError(NOT_ACTIVE)
    return engagement


def _channel_engagement(session: Session, channel: str) -> Engagement:
    engagement = active_in_channel(session, channel)
    if engagement is None:
        raise UserError(NOT_ACTIVE)
    return engagement


def item_of_click(
    req: Request, session: Session, item_id: int, *, acting: bool = True
) -> tuple[Engagement, EngagementPhase, Item, Actor]:
    """What a click on an item is about: its engagement (`click_engagement`), the item there with
    its phase (`checklist.item_by_id`: one of another engagement is refused), and who is acting
    (`actor_for`, with `acting` as there)."""
    engagement = click_engagement(req, session)
    phase, item = cl.item_by_id(session, engagement, item_id)
    return engagement, phase, item, actor_for(req, session, engagement, acting=acting)


def remember(
    services: Services, engagement_id: int, user_id: str, added_by: str, team_id: str | None = None
) -> None:
    """Record someone who acted or was assigned: name and home team from users.info (cached).
    `team_id` is the home team a click payload told us, used when users.info cannot see them.
    Someone already known with both is remembered in this process, so acting again costs nothing."""
    key = ("member-known", engagement_id, user_id)
    if services.memo.get(key):
        return
    with services.db.read() as session:
        known = session.exec(
            select(Member).where(Member.engagement_id == engagement_id, Member.user_id == user_id)
        ).first()
    if known is not None and known.team_id and known.display_name:
        services.memo.put(key, True)
        return  # nothing to learn: no Slack call, no write
    profile = services.slack.profile(user_id)
    if profile.is_bot:
        return
    with services.db.session() as session:
        engagement = session.get(Engagement, engagement_id)
        if engagement is not None:
            add_member(
                session,
                engagement,
                user_id=user_id,
                team_id=profile.team_id or team_id,
                display_name=profile.name,
                added_by=added_by,
                now=services.clock.now(),
                enterprise_id=profile.enterprise_id,
            )


def actor_for(
    req: Request, session: Session, engagement: Engagement, *, acting: bool = True, known: Known | None = None
) -> Actor:
    """The requesting user as an actor of this engagement. Commands come from the vendor's
    organisation (Slack does not share slash commands); a click says its user's home team.

    `acting` (the default): someone on neither side gets a NoSide error saying why and whom to
    ask, before anything is written. Pass acting=False to only look (item details, lists).
    """
    home = req.body.get("team_id") if req.kind == "command" else req.user_team_id
    actor = resolve_actor(
        session,
        engagement,
        user_id=req.user_id,
        home_team=home,
        name=req.user_name,
        enterprise_id=req.user_enterprise_id,
        known=known,
    )
    if acting and not actor.has_side:
        raise NoSide(_no_side_text(session, engagement, actor, req.services.command), actor.no_side_reason)
    return actor


def _no_side_text(session: Session, engagement: Engagement, actor: Actor, command: str) -> str:
    lead = lead_of(session, saved_id(engagement))
    ask = f"ask {lead.display_name}" if lead is not None and lead.display_name else "ask the lead consultant"
    customer = engagement.customer_name
    if actor.no_side_reason == CUSTOMER_UNKNOWN:
        return (
            f"This channel has people from more than one organisation, and the implementation team "
            f"hasn't said yet which one is {customer}. To set it, {ask} to run "
            f"`{command} customer @someone-from-{customer}`. Nothing was changed."
        )
    if actor.no_side_reason == ORG_UNKNOWN:
        return (
            f"I can't tell which organisation you belong to, so I can't let you act on this "
            f"engagement yet. {ask.capitalize()} to run `{command} side @you customer` (or vendor). "
            "Nothing was changed."
        )
    return (
        f"You're in this channel from another organisation than {customer}, so you can read along "
        f"but not act on this engagement. If you work on it for {customer}, {ask} to run "
        f"`{command} side @you customer`. Nothing was changed."
    )


def identify(req: Request) -> None:
    """Fetch the clicker's users.info (cached for a day) when the payload alone cannot tell
    their organisation: the app is installed in an Enterprise Grid org and they are not of
    the installing workspace (a colleague from a sibling workspace, or an external user),
    or the payload names no team at all."""
    if not req.is_interaction:
        return
    user = req.body.get("user")
    home = user.get("team_id") if isinstance(user, dict) else None
    if home and (home == req.installing_team or not req.install_enterprise_id):
        return
    services = req.services
    req.profile = services.slack.cached_profile(req.user_id) or services.slack.profile(req.user_id)


def learn_customer(req: Request) -> bool:
    """When nobody has said which organisation is the customer, and the channel connects exactly
    one organisation besides the vendor's — the requesting user's — it is the customer: pin it.
    True when it was pinned (the request can then go ahead)."""
    services = req.services
    home = req.user_team_id
    with services.db.read() as session:
        engagement = click_engagement(req, session) if req.is_interaction else None
    if engagement is None or engagement.customer_team_id or not home:
        return False
    try:
        info = services.slack.channel_info(engagement.channel_id)
    except SlackCallFailed as exc:
        log.info("conversations.info %s: %s", engagement.channel_id, exc.error)
        return False
    if the_customer_team(engagement, info) != home:
        return False
    with services.db.session() as session:
        e = session.get(Engagement, engagement.id)
        if e is None or e.customer_team_id:
            return False
        who = Actor(req.user_id, home, req.user_name, CUSTOMER, enterprise_id=req.user_enterprise_id)
        pin_customer(
            session,
            e,
            team_id=home,
            enterprise_id=req.user_enterprise_id,
            actor=who,
            how="the only organisation in the channel besides the vendor's",
            now=services.clock.now(),
        )
    return True
