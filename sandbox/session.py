"""The sandbox's state: the real bot and the Slack stand-in (a `Harness`), and what the page does.

Every user action goes through the stand-in's driver — a signed request over HTTP to the bot,
exactly as Slack sends it — then waits for the bot to finish its after-the-ack work. What the
page shows afterwards comes only from the stand-in's state, i.e. from the bot's Web API calls.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import secrets
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.events.signing import signed_headers
from sandbox.harness import CHANNEL, CUSTOMER_TEAM, LEAD, PERSONAS, Harness, Persona, sqlite_url
from standin import Notification
from standin.api_views import slack_view
from standin.driver import DriverResponse
from standin.payloads import find_element
from standin.state import Channel

from .blocks import MULTI_ELEMENTS, draft_state, element_value, form_values
from .ephemeral import click_ephemeral, ephemeral_blocks, find_ephemeral

log = logging.getLogger("golive.sandbox")

DB_NAME = "sandbox.sqlite3"
TEAM_NAMES = {"T0VENDOR": "Vendor Inc", CUSTOMER_TEAM: "Acme Corp"}
SAMPLE_DEAL = Path(__file__).parent / "sample_deal.json"
DEAL_PATH = "/hooks/deal"


def round_to_minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def next_monday_9(now: datetime, tz: ZoneInfo) -> datetime:
    """The next Monday 09:00 in `tz` strictly after `now`."""
    local = now.astimezone(tz)
    day = local.date() + timedelta(days=(7 - local.weekday()) % 7)
    candidate = datetime(day.year, day.month, day.day, 9, 0, tzinfo=tz)
    if candidate <= local:
        candidate += timedelta(days=7)
    return candidate.astimezone(UTC)


def handle(persona: Persona) -> str:
    """The Slack user name of a persona (what a mention token carries): `lena`."""
    return persona.name.split()[0].lower()


def slack_command_text(text: str, personas: Sequence[Persona] = PERSONAS) -> str:
    """What Slack sends as `text` for a command with `should_escape: true`: `&`, `<`, `>` escaped and
    `@` mentions of known people turned into `<@U…|name>` tokens.

    A mention is `@handle` (one word, any case, as Slack resolves a typed @name), `@U…` (a user
    id), or the whole name as Slack's autocomplete writes it (`@Carl Consultant`, with its
    capitals). So `role @carl consultant` gives Carl the consultant role: the word after a
    lower-case handle is never swallowed as the rest of a name."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    loose: list[tuple[str, Persona]] = []
    exact: list[tuple[str, Persona]] = []
    for p in personas:
        exact.append((p.name, p))
        loose += [(p.user_id, p), (handle(p), p)]
    exact.sort(key=lambda f: -len(f[0]))
    by_exact = {f: p for f, p in exact}
    by_loose = {f.lower(): p for f, p in loose}
    names = "|".join(re.escape(f) for f, _ in exact)
    words = "|".join(re.escape(f) for f, _ in loose)
    pattern = re.compile(r"(?<!\w)@(?:(?P<name>" + names + r")|(?i:(?P<word>" + words + r")))\b")

    def token(m: re.Match[str]) -> str:
        person = by_exact[m.group("name")] if m.group("name") else by_loose[m.group("word").lower()]
        return f"<@{person.user_id}|{handle(person)}>"

    return pattern.sub(token, text)


class Sandbox:
    """The bot on a fresh SQLite file with the Slack stand-in, driven by the sandbox page."""

    def __init__(self, data_dir: Path, *, now: datetime | None = None) -> None:
        self.data_dir = Path(data_dir)
        start = now or datetime.now(UTC)
        self.clock = Clock(round_to_minute(start.astimezone(UTC)))
        self.harness: Harness | None = None
        self.lock = threading.RLock()
        self._notes: dict[str, list[str]] = {}
        self._errors: dict[str, tuple[str, dict[str, str]]] = {}  # view id -> (hash, errors)
        self._drafts: dict[str, tuple[str, dict[str, Any]]] = {}  # view id -> (hash, state values)
        self._stamps: dict[str, datetime] = {}  # message ts -> sandbox time when it appeared
        self._activity_seen: dict[str, int] = {}  # user -> seq of the newest notification seen in Activity
        self.sweep_report: str | None = None

    # ----- lifecycle
    @property
    def database_path(self) -> Path:
        return self.data_dir / DB_NAME

    def start(self) -> Sandbox:
        """Recreate the sandbox database and start the stand-in and the bot."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.database_path}{suffix}").unlink(missing_ok=True)
        # The channel's customer is in Berlin: engagements started without tz= follow that clock.
        tz = os.environ.get("GOLIVE_DEFAULT_TIMEZONE", "Europe/Berlin")
        # The Deal won button signs its deal as the CRM would: deals make channels (the stand-in
        # then grants the extra scopes) and the hook needs a secret, this sandbox's own.
        self.hook_secret = os.environ.get("GOLIVE_HOOK_SECRET") or secrets.token_hex(16)
        self.harness = Harness(
            sqlite_url(self.data_dir, DB_NAME),
            clock=self.clock,
            env={
                "GOLIVE_DEFAULT_TIMEZONE": tz,
                "GOLIVE_CREATE_CHANNELS": "true",
                "GOLIVE_HOOK_SECRET": self.hook_secret,
            },
            customer_tz=tz,
        ).start()
        return self

    def stop(self) -> None:
        if self.harness is not None:
            self.harness.stop()
            self.harness = None

    @property
    def h(self) -> Harness:
        if self.harness is None:
            raise RuntimeError("the sandbox is not started")
        return self.harness

    @property
    def command_name(self) -> str:
        return str(self.h.services.command)

    @property
    def customer_tz(self) -> ZoneInfo:
        return ZoneInfo(self.h.customer_tz)

    # ----- people
    @staticmethod
    def persona(user_id: str | None) -> Persona:
        return next((p for p in PERSONAS if p.user_id == user_id), LEAD)

    @staticmethod
    def is_customer(persona: Persona) -> bool:
        return persona.team_id == CUSTOMER_TEAM

    # ----- notes shown once on the next page
    def note(self, user: str, text: str) -> None:
        with self.lock:
            self._notes.setdefault(user, []).append(text)

    def take_notes(self, user: str) -> list[str]:
        with self.lock:
            return self._notes.pop(user, [])

    # ----- message times in sandbox time
    def stamp(self) -> None:
        """Give every message and ephemeral not seen before the sandbox time of now."""
        now = self.clock.now()
        s = self.h.standin
        with s.ws.lock:
            channels = list(s.ws.channels)  # the shared channel, the bot's, the DMs
        seen = [e["ts"] for e in s.ephemerals()]
        for channel in channels:
            seen += [m["ts"] for m in s.messages(channel)]
        with self.lock:
            for ts in seen:
                self._stamps.setdefault(ts, now)

    def stamp_of(self, ts: str) -> datetime:
        with self.lock:
            return self._stamps.get(ts) or datetime.fromtimestamp(float(ts), UTC)

    # ----- Activity and unread: the stand-in's notifications; "seen" is kept here, per person
    def unseen_activity(self, user: str) -> int:
        """How many of the person's notifications came after they last opened Activity."""
        with self.lock:
            seen = self._activity_seen.get(user, 0)
        return sum(1 for n in self.h.standin.notifications(user) if n.seq > seen)

    def open_activity(self, user: str) -> tuple[list[Notification], int]:
        """The person opens Activity: their notifications, newest first, and the seq they had seen
        before (newer ones are new to them); from now on all of them count as seen."""
        found = self.h.standin.activity(user)
        with self.lock:
            before = self._activity_seen.get(user, 0)
            if found:
                self._activity_seen[user] = max(before, max(n.seq for n in found))
        return found, before

    def unread(self, user: str) -> dict[str, int]:
        """{channel: unread messages} the person's sidebar shows in bold."""
        return self.h.standin.unread(user)

    def mark_read(self, user: str, channel: str) -> None:
        """The person looks at the channel: Slack marks it read."""
        self.h.standin.mark_read(user, channel)

    # ----- what the bot answered
    def _check(self, user: str, resp: Any, what: str) -> None:
        if resp is not None and resp.status != 200:
            self.note(user, f"The bot answered {what} with HTTP {resp.status}; see the terminal for its log.")

    def _after(self) -> None:
        self.h.idle()
        self.stamp()

    # ----- actions
    def command(self, user: str, typed: str, channel: str = CHANNEL) -> None:
        """A slash command typed in the composer of `channel`: `/golive status`."""
        typed = typed.strip()
        if not typed:
            return
        name, _, rest = typed.partition(" ")
        if not name.startswith("/"):
            self.note(user, f"Only slash commands reach the bot here. Try `{self.command_name} help`.")
            return
        if name != self.command_name:
            self.note(user, f"{name} is not a valid command. The bot's command is {self.command_name}.")
            return
        with self.lock:
            if channel not in self.channel_ids(user):
                self.note(user, "You are not in that channel.")
                return
            resp = self.h.driver.command(name, slack_command_text(rest.strip()), user=user, channel=channel)
            self._check(user, resp, name)
            self._after()

    def act(
        self,
        user: str,
        *,
        where: str,
        block_id: str,
        action_id: str,
        values: Sequence[str] | None,
        channel: str = "",
        ts: str = "",
        view_id: str = "",
    ) -> None:
        """A click, selection or tick on an element of a message, an ephemeral message or a view."""
        with self.lock:
            ephemeral = None
            if where == "view":
                record = self.h.standin.view(view_id)
                blocks = slack_view(self.h.standin.ws, record)["blocks"]
            elif where == "ephemeral":
                ephemeral = find_ephemeral(self.h.standin, channel, ts, user)
                if ephemeral is None:
                    self.note(user, "That message is gone.")
                    return
                blocks = ephemeral_blocks(ephemeral)
            else:
                message = self.h.standin.message(channel, ts)
                if message is None or message.get("deleted"):
                    self.note(user, "That message is gone.")
                    return
                blocks = self.h.standin.ws.filled_blocks(message)
            found = find_element(blocks, action_id, block_id)
            if found is None:
                self.note(user, "That element is no longer there: the message or view changed.")
                return
            kwargs = self._value_kwargs(found[1], values)
            resp: DriverResponse | None
            if ephemeral is not None:
                resp = click_ephemeral(
                    self.h.standin,
                    self.h.driver,
                    user=user,
                    record=ephemeral,
                    block=found[0],
                    element=found[1],
                    value=next(iter(kwargs.values()), None),
                    has_value=bool(kwargs),
                )
            elif where == "view":
                resp = self.h.driver.click_view(view_id, action_id, user=user, block_id=block_id, **kwargs)
            else:
                resp = self.h.driver.click(channel, ts, action_id, user=user, block_id=block_id, **kwargs)
            self._check(user, resp, "the click")
            self._after()

    @staticmethod
    def _value_kwargs(element: Mapping[str, Any], values: Sequence[str] | None) -> dict[str, Any]:
        etype = str(element.get("type", ""))
        if etype in ("button", "workflow_button"):
            return {}
        raw = element_value(element, values)
        if etype in MULTI_ELEMENTS:
            return {"selected_options": raw}
        if raw is None:
            raise ValueError("choose a value first")
        if etype in ("overflow", "static_select", "external_select", "radio_buttons"):
            return {"selected_option": raw}
        if etype == "users_select":
            return {"selected_user": raw}
        if etype == "datepicker":
            return {"selected_date": raw}
        return {"value": raw}

    def submit_view(self, user: str, view_id: str, form: Mapping[str, Sequence[str]]) -> None:
        """The modal's submit button: its inputs as `{block_id: {action_id: value}}`."""
        with self.lock:
            record = self.h.standin.view(view_id)
            blocks = slack_view(self.h.standin.ws, record)["blocks"]
            values, missing = form_values(blocks, form)
            self._drafts[view_id] = (record["hash"], draft_state(blocks, values))
            if missing:  # Slack checks required inputs itself and sends nothing
                self._errors[view_id] = (record["hash"], missing)
                return
            resp = self.h.driver.submit_view(view_id, values, user=user)
            answer = resp.json or {}
            if resp.status == 200 and answer.get("response_action") == "errors":
                # What Slack shows: the stand-in refuses errors not keyed by an input's block_id.
                shown = self.h.standin.view(view_id)
                self._errors[view_id] = (shown["hash"], dict(shown["errors"]))
                if not self.h.standin.calls_to("view_submission.response")[-1].response.get("ok"):
                    self.note(
                        user,
                        "We had some trouble connecting. Try again? (what Slack says when the "
                        "bot's errors name no input block of the form)",
                    )
            else:
                self._errors.pop(view_id, None)
                self._drafts.pop(view_id, None)
                self._check(user, resp, "the form")
            self._after()

    def close_view(self, user: str, view_id: str) -> None:
        with self.lock:
            resp = self.h.driver.close_view(view_id, user)
            self._errors.pop(view_id, None)
            self._drafts.pop(view_id, None)
            self._check(user, resp, "closing the form")
            self._after()

    def open_home(self, user: str) -> None:
        """The user opens the app's Home tab: Slack sends `app_home_opened`."""
        with self.lock:
            resp = self.h.driver.app_home_opened(user)
            self._check(user, resp, "app_home_opened")
            self._after()

    def view_errors(self, view_id: str, view_hash: str) -> dict[str, str]:
        with self.lock:
            found = self._errors.get(view_id)
            return dict(found[1]) if found and found[0] == view_hash else {}

    def view_draft(self, view_id: str, view_hash: str) -> dict[str, Any]:
        with self.lock:
            found = self._drafts.get(view_id)
            return dict(found[1]) if found and found[0] == view_hash else {}

    # ----- channels: the shared one, the ones the bot created for deals
    def channels_of(self, user: str) -> list[Channel]:
        """The channels the person is in (no DMs), as their sidebar lists them: the shared channel
        first, then the others in the order they were made."""
        s = self.h.standin
        with s.ws.lock:
            found = [
                copy.deepcopy(c)
                for c in s.ws.channels.values()
                if not c.is_im and not c.is_mpim and not c.is_archived and user in c.members
            ]
        found.sort(key=lambda c: c.id != CHANNEL)
        return found

    def channel_ids(self, user: str) -> list[str]:
        return [c.id for c in self.channels_of(user)]

    def channel_for(self, user: str, wanted: str | None) -> str:
        """The channel the page shows: `wanted` when the person is in it, else the shared channel."""
        return wanted if wanted and wanted in self.channel_ids(user) else CHANNEL

    def invitations(self, user: str) -> list[Invitation]:
        """The Slack Connect invitations waiting for the person (sent to their email)."""
        email = (self.persona(user).email or "").lower()
        if not email or self.persona(user).user_id != user:
            return []
        s = self.h.standin
        out: list[Invitation] = []
        for invite in s.invites(state="sent"):
            if (invite.email or "").lower() != email:
                continue
            inviter = s.user(invite.inviting_user)
            out.append(
                Invitation(
                    id=invite.id,
                    channel=invite.channel,
                    channel_name=s.channel(invite.channel).name,
                    team=TEAM_NAMES.get(s.ws.team_id, s.ws.team_id),
                    inviter=inviter.real_name or inviter.name,
                )
            )
        return out

    # ----- deals
    def deal_won(self, user: str) -> str | None:
        """The CRM's deal won: the sample deal (its kickoff the sandbox's today), signed with the
        hook secret and POSTed to the bot's /hooks/deal over HTTP. Says what the bot answered in the
        note area; returns the deal's channel once the bot made it."""
        if self.is_customer(self.persona(user)):
            self.note(user, "Deals come from the vendor's CRM: switch to a Vendor Inc persona.")
            return None
        document = json.loads(SAMPLE_DEAL.read_text(encoding="utf-8"))
        document["kickoff"] = self.clock.now().astimezone(self.customer_tz).date().isoformat()
        body = json.dumps(document).encode("utf-8")
        with self.lock:
            status, answer = post_deal(self.h.server.url + DEAL_PATH, body, self.hook_secret)
            self._after()
            channel = self._deal_channel(document)
        deal = f"deal {document['deal_id']} ({document['customer']['name']})"
        if status != 202:
            error = answer.get("error") or "no reason given"
            self.note(user, f"Deal won: the bot answered {deal} with HTTP {status}: {error}")
            return None
        outcome = str(answer.get("outcome"))
        said = (
            f"Deal won: the CRM sent {deal}, signed, to the bot's {DEAL_PATH}. The bot answered 202 {outcome}"
        )
        said += f" (engagement {answer.get('engagement_id')})."
        if outcome == "unchanged":
            said += " The same deal id is the same engagement: no second engagement, channel or invitation."
        elif outcome == "updated":
            said += " What changed: " + "; ".join(str(c) for c in answer.get("changes") or []) + "."
        if channel is not None:
            name = self.h.standin.channel(channel).name
            emails = ", ".join(c["email"] for c in document["contacts"])
            if outcome == "created":
                said += f" It made #{name} and invited {emails} by Slack Connect."
            else:
                said += f" Its channel is #{name}."
        self.note(user, said)
        return channel

    def _deal_channel(self, document: Mapping[str, Any]) -> str | None:
        """The channel the bot made for the deal: the one its contacts were invited to."""
        emails = {str(c["email"]).lower() for c in document["contacts"]}
        found = [i.channel for i in self.h.standin.invites() if (i.email or "").lower() in emails]
        return found[-1] if found else None

    def accept_invite(self, user: str, invite_id: str) -> str | None:
        """The customer persona accepts a Slack Connect invitation sent to their email; Slack's
        events (accepted, channel_shared, member_joined_channel) go to the bot. The channel."""
        invite = next((i for i in self.invitations(user) if i.id == invite_id), None)
        if invite is None:
            self.note(user, "That invitation is not waiting for you any more.")
            return None
        with self.lock:
            deliveries = self.h.driver.accept_invite(invite_id, user, team_id=CUSTOMER_TEAM)
            for d in deliveries:
                self._check(user, d.response, d.type)
            self._after()
        return invite.channel

    # ----- time
    def move_clock(self, user: str, op: str, at: str = "") -> datetime:
        """+1 hour, +1 day, next Monday 09:00 in the customer's zone, or a given local time; then sweep."""
        with self.lock:
            now = self.clock.now()
            if op == "hour":
                self.clock.set(now + timedelta(hours=1))
            elif op == "day":
                self.clock.set(now + timedelta(days=1))
            elif op == "monday":
                self.clock.set(next_monday_9(now, self.customer_tz))
            elif op == "set":
                try:
                    local = datetime.fromisoformat(at)
                except ValueError:
                    self.note(user, f"Not a date and time: {at!r}.")
                    return now
                self.clock.set(local.replace(tzinfo=self.customer_tz) if local.tzinfo is None else local)
            else:
                self.note(user, f"Unknown clock operation {op!r}.")
                return now
            self.sweep(user)
            return self.clock.now()

    def sweep(self, user: str) -> None:
        """Run the reminder sweep at the sandbox time, if the bot has one yet."""
        run_sweep = getattr(self.h, "run_sweep", None)
        if run_sweep is None:
            self.sweep_report = "No sweep available yet: the clock moved, nothing was sent."
            self.stamp()
            return
        try:
            report = run_sweep()
            summary = getattr(report, "summary", None)
            text = summary() if callable(summary) else ("" if report is None else str(report))
            self.sweep_report = text or "The sweep ran."
        except Exception as exc:
            log.exception("the reminder sweep failed")
            self.sweep_report = f"The sweep failed: {exc}"
        self._after()

    # ----- views
    def open_modal(self, user: str) -> dict[str, Any] | None:
        """The user's top open modal (as Slack's view object with its record's hash), or None."""
        views = self.h.standin.open_views(user)
        if not views:
            return None
        record = views[-1]
        view = slack_view(self.h.standin.ws, record)
        view["stack_depth"] = len(views)
        return view

    def file(self, file_id: str) -> dict[str, Any] | None:
        """A file the bot uploaded (its stand-in record, with `content`), or None."""
        return next((f for f in self.h.standin.files if f.get("id") == file_id), None)

    def home_view(self, user: str) -> dict[str, Any] | None:
        record = self.h.standin.home(user)
        return slack_view(self.h.standin.ws, record) if record else None


@dataclass(frozen=True)
class Invitation:
    """A Slack Connect invitation as the invited person sees it: to #channel from the organisation."""

    id: str
    channel: str
    channel_name: str
    team: str
    inviter: str


def post_deal(url: str, body: bytes, secret: str) -> tuple[int, dict[str, Any]]:
    """POST a deal signed as golive's hook expects; the HTTP status and the bot's JSON answer."""
    headers = {"Content-Type": "application/json", **signed_headers(secret, body)}
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, _json_object(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, _json_object(exc.read())


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        found = json.loads(raw or b"{}")
    except ValueError:
        return {"error": raw[:200].decode("utf-8", "replace")}
    return found if isinstance(found, dict) else {}


def start_sandbox(data_dir: Path, *, now: datetime | None = None) -> Sandbox:
    """A started sandbox (tests use it; `run` wraps it in the web server)."""
    return Sandbox(data_dir, now=now).start()
