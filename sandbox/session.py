"""The sandbox's state: the real bot and the Slack stand-in (a `Harness`), and what the page does.

Every user action goes through the stand-in's driver — a signed request over HTTP to the bot,
exactly as Slack sends it — then waits for the bot to finish its after-the-ack work. What the
page shows afterwards comes only from the stand-in's state, i.e. from the bot's Web API calls.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.clock import Clock
from sandbox.harness import CHANNEL, CUSTOMER_TEAM, LEAD, PERSONAS, Harness, Persona, sqlite_url
from standin import Notification
from standin.api_views import slack_view
from standin.payloads import find_element

from .blocks import MULTI_ELEMENTS, draft_state, element_value, form_values
from .ephemeral import click_ephemeral, ephemeral_blocks, find_ephemeral

log = logging.getLogger("golive.sandbox")

DB_NAME = "sandbox.sqlite3"
TEAM_NAMES = {"T0VENDOR": "Vendor Inc", CUSTOMER_TEAM: "Acme Corp"}


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
        self.harness = Harness(
            sqlite_url(self.data_dir, DB_NAME),
            clock=self.clock,
            env={"GOLIVE_DEFAULT_TIMEZONE": tz},
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
        seen = [m["ts"] for m in s.messages(CHANNEL)] + [e["ts"] for e in s.ephemerals()]
        for p in PERSONAS:
            im = s.im_channel(p.user_id)
            if im:
                seen += [m["ts"] for m in s.messages(im)]
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
    def command(self, user: str, typed: str) -> None:
        """A slash command typed in the composer: `/golive status`."""
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
            resp = self.h.driver.command(name, slack_command_text(rest.strip()), user=user, channel=CHANNEL)
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


def start_sandbox(data_dir: Path, *, now: datetime | None = None) -> Sandbox:
    """A started sandbox (tests use it; `run` wraps it in the web server)."""
    return Sandbox(data_dir, now=now).start()
