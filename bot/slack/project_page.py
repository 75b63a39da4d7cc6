"""The project page (issue 28, `GOLIVE_PROJECT_CANVAS=true`): one page per engagement that both
sides can read — the plan and its dates, the team and its roles, the sign-off record with links,
and each phase's checklist link.

It is a canvas tab in the engagement's channel (`conversations.canvases.create`, then
`canvases.edit` replacing its content); where the workspace refuses canvases (a free plan,
canvases turned off, any refusal of the create call) a pinned message serves instead (`pins.add`,
then `chat.update`). The database stays the record: the page is rendered from it each time, and
messages stay the place to act. Which page an engagement has is kept in the posted-message ledger
(kind `project_page`; key `canvas` with the canvas id as its ts, or key `pin` with the message's
ts). Refreshes go through the outbox, coalesced per engagement: a burst of changes is one edit,
and a refresh that changes nothing on the page is none.

An edit replaces the whole document in one `canvases.edit` change, not one change per section: in
Slack a heading is a section of its own, apart from the list under it, and
`canvases.sections.lookup` (which would need `canvases:read` too) finds headings only, so a
per-heading `replace` would leave the old lines behind. The page is small; one change is exact.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError
from sqlmodel import Session, col, select

from bot.engagement.lifecycle import phases_of
from bot.people.roles import role_label, team
from bot.slack.gateway import SlackCallFailed, SlackGateway
from bot.slack.sending import SETTLE_SECONDS, Job, Sending
from messages import Message
from messages.escape import escape_mrkdwn
from storage.models import Engagement, Gate, PostedMessage, SignoffDecision, SignoffRequest

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger("golive.project_page")

KIND = "project_page"
GONE = "project_page_gone"  # a page someone deleted: kept in the ledger, no longer written
CANVAS, PIN = "canvas", "pin"
# canvases.edit's answers for a canvas that is no more (its page, and canvases.sections.lookup's).
CANVAS_GONE = frozenset({"canvas_not_found", "canvas_deleted"})
# What this process last wrote to each canvas (canvas id -> markdown): a refresh that changes
# nothing on the page (a tick inside a phase) costs no canvases.edit. Another process may write
# the same content again: harmless.
_WRITTEN: dict[str, str] = {}
_WRITTEN_MAX = 10_000
# Section text in a pinned message: Block Kit's 3,000 characters, with room to spare.
SECTION_MAX = 2_900


@dataclass(frozen=True)
class Link:
    text: str
    url: str


@dataclass(frozen=True)
class Section:
    """One part of the page: a heading and its lines (each plain text and, maybe, a link)."""

    heading: str
    lines: Sequence[tuple[str, Link | None]]


def message_url(channel: str, ts: str) -> str:
    """A link to a message, without a chat.getPermalink call per link (Slack redirects it)."""
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def _day(d: date | None) -> str:
    return d.strftime("%a %-d %b %Y") if d else "—"


def page_sections(session: Session, engagement: Engagement) -> list[Section]:
    """The page as the database says it is now."""
    eid = engagement.id
    assert eid is not None
    phases = phases_of(session, eid)
    checklists: dict[int, str] = {}
    for row in session.exec(
        select(PostedMessage)
        .where(PostedMessage.engagement_id == eid, PostedMessage.kind == "checklist")
        .order_by(col(PostedMessage.id))
    ).all():
        head = row.key.split(".")[0]  # checklist_key: "<phase>.<part>"
        number = int(head) if head.isdigit() else None
        if number is not None and number not in checklists:
            checklists[number] = message_url(row.channel_id, row.ts)
    plan: list[tuple[str, Link | None]] = []
    for p in phases:
        done = " (done)" if p.completed_at else ""
        text = f"{p.number}. {p.name}: {_day(p.planned_start)} to {_day(p.planned_end)}{done}"
        url = checklists.get(p.number)
        plan.append((text, Link("checklist", url) if url else None))
    people = [(f"{role_label(r.role)} ({r.side}): {r.name}", None) for r in team(session, engagement)]
    record: list[tuple[str, Link | None]] = []
    for gate in session.exec(select(Gate).where(Gate.engagement_id == eid).order_by(col(Gate.id))).all():
        request = session.exec(
            select(SignoffRequest)
            .where(SignoffRequest.gate_id == gate.id)
            .order_by(col(SignoffRequest.version).desc())
        ).first()
        decision = session.exec(
            select(SignoffDecision)
            .where(SignoffDecision.gate_id == gate.id)
            .order_by(col(SignoffDecision.id).desc())
        ).first()
        if decision is not None and decision.decision == "approved" and gate.status == "approved":
            state = f"approved by {decision.display_name}"
            if gate.approved_at:
                state += f" on {_day(gate.approved_at.date())}"
        elif decision is not None and decision.decision == "changes_requested":
            state = f"changes requested by {decision.display_name}"
        elif request is not None:
            state = "waiting for sign-off"
        else:
            state = "not requested yet"
        link = (
            Link("request", message_url(request.channel_id, request.ts))
            if request is not None and request.ts
            else None
        )
        record.append((f"{gate.title}: {state}", link))
    return [
        Section("Plan and dates", plan or [("No phases yet", None)]),
        Section("Team and roles", people or [("Nobody named yet", None)]),
        Section("Sign-offs", record or [("No sign-offs in this playbook", None)]),
    ]


_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>#|~])")


def _md(text: str) -> str:
    """User text in canvas markdown: its markup characters escaped."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


def page_markdown(title: str, sections: list[Section]) -> str:
    """The canvas document: one `##` section per part."""
    out = [f"# {_md(title)}\n"]
    for s in sections:
        out.append(f"## {s.heading}\n")
        for text, link in s.lines:
            out.append(f"- {_md(text)}" + (f" ([{link.text}]({link.url}))" if link else "") + "\n")
    out.append("\n_The record is kept by golive; act on its messages in the channel._\n")
    return "".join(out)


def page_message(title: str, sections: list[Section]) -> Message:
    """The pinned message that serves where there is no canvas."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
    ]
    for s in sections:
        lines = [
            "• " + escape_mrkdwn(text) + (f" (<{link.url}|{link.text}>)" if link else "")
            for text, link in s.lines
        ]
        body = f"*{s.heading}*\n" + "\n".join(lines)
        if len(body) > SECTION_MAX:
            body = body[: SECTION_MAX - 1] + "…"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body}})
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": "Kept up to date by golive; act on its messages."}],
        }
    )
    return Message(text=escape_mrkdwn(title), blocks=blocks)


def _api(slack: SlackGateway, method: str, **kwargs: Any) -> Any:
    """A Web API call through the gateway's client, Slack's refusals as SlackCallFailed."""
    try:
        return slack.client.api_call(method, json=kwargs)
    except SlackApiError as exc:
        error = exc.response.get("error", "unknown_error") if exc.response is not None else "unknown_error"
        raise SlackCallFailed(method, str(error), exc.response) from exc


class ProjectPageJob(Job):
    """Bring an engagement's project page up to date: create it (a canvas, or a pinned message when
    canvases are refused) the first time, rewrite it after. Coalesced per engagement."""

    def __init__(self, services: Services, engagement_id: int, channel: str) -> None:
        self.key = (KIND, engagement_id)
        self.lane = channel
        self.settle = SETTLE_SECONDS
        self.services, self.engagement_id, self.channel = services, engagement_id, channel

    def describe(self) -> str:
        return f"project page of engagement {self.engagement_id}"

    def _render(self) -> tuple[str, list[Section]] | None:
        with self.services.db.read() as session:
            engagement = session.get(Engagement, self.engagement_id)
            if engagement is None:
                return None
            return f"{engagement.customer_name}: project page", page_sections(session, engagement)

    def run(self, out: Sending) -> None:
        rendered = self._render()
        if rendered is None:
            return
        title, sections = rendered
        slack = out.slack
        pages = slack.posted(self.engagement_id, KIND)
        canvas = next((p for p in pages if p.key == CANVAS), None)
        pinned = next((p for p in pages if p.key == PIN), None)
        if canvas is not None:
            markdown = page_markdown(title, sections)
            if _WRITTEN.get(canvas.ts) == markdown:
                return
            # One change replacing the document: Slack applies a call's changes together.
            change = {"operation": "replace", "document_content": {"type": "markdown", "markdown": markdown}}
            try:
                out.call(
                    "canvases.edit",
                    "",
                    lambda: _api(slack, "canvases.edit", canvas_id=canvas.ts, changes=[change]),
                )
            except SlackCallFailed as exc:
                if exc.error not in CANVAS_GONE:
                    log.warning("project page canvas %s not edited: %s", canvas.ts, exc.error)
                    return
                # Someone deleted the canvas: a new page, not edits into nothing.
                assert canvas.id is not None
                slack.relabel([canvas.id], GONE)
            else:
                _remember(canvas.ts, markdown)
                return
            self._create(out, title, sections)
            return
        if pinned is not None:
            try:
                if out.update(pinned.channel_id, pinned.ts, page_message(title, sections)):
                    return
            except SlackCallFailed as exc:
                log.warning("project page message %s not updated: %s", pinned.ts, exc.error)
                return
            # The message was deleted: a new page (a canvas, if the workspace now allows one).
            assert pinned.id is not None
            slack.relabel([pinned.id], GONE)
        self._create(out, title, sections)

    def _create(self, out: Sending, title: str, sections: list[Section]) -> None:
        slack = out.slack
        content = {"type": "markdown", "markdown": page_markdown(title, sections)}
        try:
            answer = out.call(
                "conversations.canvases.create",
                "",
                lambda: _api(
                    slack,
                    "conversations.canvases.create",
                    channel_id=self.channel,
                    title=title,
                    document_content=content,
                ),
            )
        except SlackCallFailed as exc:
            # A free plan, canvases turned off, a canvas already there, a refusal: pin instead.
            log.info(
                "no canvas for engagement %s (%s): a pinned message instead", self.engagement_id, exc.error
            )
        else:
            slack.record(
                self.channel,
                str(answer["canvas_id"]),
                kind=KIND,
                key=CANVAS,
                engagement_id=self.engagement_id,
            )
            _remember(str(answer["canvas_id"]), content["markdown"])
            return
        try:
            ts = out.post(
                self.channel,
                page_message(title, sections),
                kind=KIND,
                key=PIN,
                engagement_id=self.engagement_id,
            )
        except SlackCallFailed as exc:
            log.warning("project page of engagement %s not posted: %s", self.engagement_id, exc.error)
            return
        try:
            out.call(
                "pins.add", self.channel, lambda: _api(slack, "pins.add", channel=self.channel, timestamp=ts)
            )
        except SlackCallFailed as exc:
            log.warning("project page %s not pinned: %s", ts, exc.error)


def _remember(canvas_id: str, markdown: str) -> None:
    if len(_WRITTEN) >= _WRITTEN_MAX:
        _WRITTEN.clear()
    _WRITTEN[canvas_id] = markdown


def refresh_project_page(services: Services, engagement_id: int) -> None:
    """Queue the engagement's project page (created the first time) when the setting is on."""
    if not services.settings.golive_project_canvas:
        return
    with services.db.read() as session:
        engagement = session.get(Engagement, engagement_id)
        if engagement is None or not engagement.channel_id or engagement.status == "preparing":
            return  # a deal's channel before the customer joined: customer_joined starts it
        channel = engagement.channel_id
    services.outbox.submit(ProjectPageJob(services, engagement_id, channel))
