"""The project page (issue 28, `GOLIVE_PROJECT_CANVAS=true`): one page per engagement that both
sides can read — the plan and its dates, the team and its roles, the sign-off record with links,
and each phase's checklist link.

It is a canvas tab in the engagement's channel (`conversations.canvases.create`, then
`canvases.edit`); where the workspace refuses canvases (a free plan, canvases turned off, any
refusal of the create call) a pinned message serves instead (`pins.add`, then `chat.update`). The
database stays the record: the page is rendered from it each time, and messages stay the place to
act. Which page an engagement has is kept in the posted-message ledger (kind `project_page`; key
`canvas` with the canvas id as its ts, or key `pin` with the message's ts). Refreshes go through
the outbox, coalesced per engagement: a burst of changes is one refresh, and a refresh that
changes nothing on the page is no call.

A canvas is a page both sides can read and write, so a refresh edits only the lines that
changed, and what a person added (a note under a section, a section of their own) stays. In Slack
a canvas is a list of sections, one per markdown block: a heading apart from the list under it,
each list item its own. `canvases.edit` takes one change a call (`replace`, `delete`,
`insert_after` … of one section, named by id), and `canvases.sections.lookup` (`canvases:read`)
finds section ids by heading type and/or by text they contain (text alone finds list items and
paragraphs too). So:

- What the bot last wrote to each canvas is kept in the database (`ProjectPageCanvas`): per
  section, by its heading, the lines, each its markdown and the text it shows. It survives
  restarts and is shared by replicas; it is written only after the edits landed, as a compare
  and set (a refresh that raced another process's finds the version moved and rewrites the page).
- Every line the bot writes shows a text unique on the page (`unique_lines`): a phase with its
  dates, a role with its side and person, a gate with its state. A refresh renders the lines
  again, diffs each section against what it wrote (difflib), and for a section that changed
  looks each line it must touch up by that text (exactly one section, or it is not the bot's
  line any more) and sends the fewest changes, one call each: a changed line `replace`d in
  place, a removed one `delete`d, added ones inserted after the line before them (at the top of
  a section, before its first line, so a note right under the heading stays there; in an empty
  section, after the heading). Unchanged sections cost nothing, and a refresh that changes
  nothing on the page (a tick inside a phase) makes no call at all.
- A run cut short (pacing, a 429) keeps what landed and the next run goes on from there; an edit
  whose answer was lost (a 5xx, a timeout) may or may not have landed, so nothing is kept and the
  next run replaces the whole canvas.
- When a lookup does not find exactly one section (someone rewrote or deleted that line, or wrote
  the same text elsewhere), that section is rewritten instead: each of its lines found once is
  deleted, the whole section inserted after its heading; a line nobody can find any more is left
  as the person made it. (A section cannot be replaced as one: its lines are sections of their
  own, each reached only by a lookup.) When even that cannot be done (its heading not found once, a line found
  twice, `canvases:read` not granted yet) the whole canvas is replaced in one change, as the
  first version of this page did, and the reason logged.
- No stored state (the first write of a canvas made before this table, or edits whose answer was
  lost so what landed is unknown), a new title or a heading added or removed: the whole canvas is
  replaced in one change. Creating the canvas writes the whole page.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.engagement.lifecycle import phases_of
from bot.people.roles import role_label, team
from bot.slack.gateway import SlackCallFailed, SlackGateway
from bot.slack.sending import SETTLE_SECONDS, Job, Retry, Sending
from messages import Message
from messages.escape import escape_mrkdwn
from storage.models import (
    Engagement,
    Gate,
    PostedMessage,
    ProjectPageCanvas,
    SignoffDecision,
    SignoffRequest,
)

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger("golive.project_page")

KIND = "project_page"
GONE = "project_page_gone"  # a page someone deleted: kept in the ledger, no longer written
CANVAS, PIN = "canvas", "pin"
# canvases.edit's and canvases.sections.lookup's answers for a canvas that is no more.
CANVAS_GONE = frozenset({"canvas_not_found", "canvas_deleted"})
# canvases.edit's answer when a change could not be applied: the section named went meanwhile.
EDIT_FAILED = "canvas_editing_failed"
FOOTER = "_The record is kept by golive; act on its messages in the channel._"
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


_LIST_MARKER = re.compile(r"^(\d{1,9})([.)])|^([-+])(?=\s)")


def _md(text: str) -> str:
    """User text in canvas markdown: its markup characters escaped."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


def _item(text: str) -> str:
    """Text as a list item's markdown: escaped, and a start that would open a list inside the item
    ("1. Discovery", "- x") escaped too, or it would show as a list's drawn number, not as text."""
    return "- " + _LIST_MARKER.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}", _md(text), count=1)


@dataclass(frozen=True)
class Line:
    """One line the bot writes on the canvas: its markdown (a list item) and the text it shows,
    unique on the page, by which `canvases.sections.lookup` finds it again."""

    md: str
    text: str


@dataclass(frozen=True)
class Page:
    """The canvas document as the bot writes it: the title heading, each section's heading and
    lines, the footer. Also what is kept of it in the database (`ProjectPageCanvas.written`)."""

    title: str
    sections: tuple[tuple[str, tuple[Line, ...]], ...]
    footer: str = FOOTER

    def markdown(self) -> str:
        out = [self.title + "\n"]
        for heading, lines in self.sections:
            out.append(f"## {heading}\n")
            out.extend(line.md + "\n" for line in lines)
        out.append(f"\n{self.footer}\n")
        return "".join(out)

    def headings(self) -> list[str]:
        return [heading for heading, _lines in self.sections]

    def to_json(self) -> str:
        sections = [{"heading": h, "lines": [[x.md, x.text] for x in lines]} for h, lines in self.sections]
        return json.dumps({"title": self.title, "footer": self.footer, "sections": sections})

    @classmethod
    def from_json(cls, raw: str) -> Page:
        data = json.loads(raw)
        return cls(
            title=str(data["title"]),
            footer=str(data["footer"]),
            sections=tuple(
                (str(s["heading"]), tuple(Line(str(md), str(text)) for md, text in s["lines"]))
                for s in data["sections"]
            ),
        )


def unique_lines(sections: list[Section], taken: Sequence[str] = ()) -> list[list[str]]:
    """Each section's line texts, made unique on the page (regardless of case), so that a lookup
    by one finds that line only: lines that are equal are numbered, and a line that is part of
    another (or of `taken`: the page's title and headings) gets a number too."""
    texts = [[text for text, _link in s.lines] for s in sections]
    places = [(i, j) for i, lines in enumerate(texts) for j in range(len(lines))]
    counts = Counter(texts[i][j].casefold() for i, j in places)
    numbered: Counter[str] = Counter()
    for i, j in places:
        key = texts[i][j].casefold()
        if counts[key] > 1:
            numbered[key] += 1
            texts[i][j] = f"{texts[i][j]} ({numbered[key]})"
    for _ in range(3):  # a number added could make a new clash, very rarely: look again
        changed = False
        for i, j in places:
            key = texts[i][j].casefold()
            others = [texts[a][b].casefold() for a, b in places if (a, b) != (i, j)]
            others += [t.casefold() for t in taken]
            if any(key in other for other in others):
                n = 2
                while any(f"{key} ({n})" in o or o in f"{key} ({n})" for o in others):
                    n += 1
                texts[i][j] = f"{texts[i][j]} ({n})"
                changed = True
        if not changed:
            break
    return texts


def page_layout(title: str, sections: list[Section]) -> Page:
    """The canvas document: a `#` title, one `##` heading per part, one list item per line."""
    texts = unique_lines(sections, [title, *(s.heading for s in sections), "The record is kept by golive"])
    parts = []
    for s, shown in zip(sections, texts, strict=True):
        lines = tuple(
            Line(_item(text) + (f" ([{link.text}]({link.url}))" if link else ""), text)
            for text, (_text, link) in zip(shown, s.lines, strict=True)
        )
        parts.append((s.heading, lines))
    return Page(title=f"# {_md(title)}", sections=tuple(parts))


def page_markdown(title: str, sections: list[Section]) -> str:
    """The whole canvas document, as the bot writes it at creation and when it replaces it."""
    return page_layout(title, sections).markdown()


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


class _Unfindable(Exception):
    """A lookup did not find exactly one section: `count` found (0: nobody can find it)."""

    def __init__(self, text: str, count: int) -> None:
        super().__init__(f"{text!r} found {count} times")
        self.text, self.count = text, count


class _Whole(Exception):
    """Line edits cannot bring the canvas up to date: replace the whole document (the reason)."""


def _uncertain(exc: Retry) -> bool:
    """Whether the call behind a Retry may have landed: a 5xx, a timeout, a lost connection (not
    pacing, which sends nothing, and not a 429, which Slack did not apply)."""
    cause = exc.__cause__
    if cause is None:
        return False
    return not (isinstance(cause, SlackCallFailed) and (cause.error == "ratelimited" or cause.status == 429))


def _content(lines: Sequence[Line]) -> dict[str, str]:
    return {"type": "markdown", "markdown": "".join(line.md + "\n" for line in lines)}


class _CanvasEdits:
    """The line-level edits of one refresh of one canvas, one `canvases.edit` change per call.
    `current`: the lines of the section being edited as the canvas now holds them (what landed)."""

    def __init__(self, out: Sending, canvas_id: str) -> None:
        self.out, self.canvas_id = out, canvas_id
        self.current: list[Line] = []
        self.uncertain = False  # an edit's answer was lost: what the canvas holds is unknown
        self.edits = 0

    def find(self, text: str, *, heading: bool = False) -> str:
        """The id of the one section showing `text` (an `h2` with `heading`); `_Unfindable`
        otherwise."""
        criteria: dict[str, Any] = {"contains_text": text}
        if heading:
            criteria["section_types"] = ["h2"]
        slack = self.out.slack
        try:
            answer = self.out.call(
                "canvases.sections.lookup",
                "",
                lambda: _api(slack, "canvases.sections.lookup", canvas_id=self.canvas_id, criteria=criteria),
            )
        except SlackCallFailed as exc:
            if exc.error in CANVAS_GONE:
                raise
            # missing_scope (canvases:read not granted yet), canvases turned off for reading…
            raise _Whole(f"canvases.sections.lookup refused: {exc.error}") from exc
        ids = [str(s["id"]) for s in answer.get("sections") or [] if isinstance(s, dict) and s.get("id")]
        if len(ids) != 1:
            raise _Unfindable(text, len(ids))
        return ids[0]

    def edit(self, change: dict[str, Any], what: str) -> None:
        slack = self.out.slack
        try:
            self.out.call(
                "canvases.edit",
                "",
                lambda: _api(slack, "canvases.edit", canvas_id=self.canvas_id, changes=[change]),
            )
        except Retry as exc:
            self.uncertain = self.uncertain or _uncertain(exc)
            raise
        except SlackCallFailed as exc:
            if exc.error == EDIT_FAILED:  # the section went between the lookup and the edit
                raise _Unfindable(what, 0) from exc
            raise
        self.edits += 1

    def section(self, heading: str, old: Sequence[Line], new: Sequence[Line]) -> None:
        """Bring one section from `old` to `new`: the fewest line edits, or else the section
        rewritten; `_Whole` when neither can be done."""
        self.current = list(old)
        try:
            self._lines(heading, old, new)
        except _Unfindable as exc:
            log.info(
                "project page canvas %s: %s (edited by someone?); section %r rewritten",
                self.canvas_id,
                exc,
                heading,
            )
            self._rewrite(heading, new)

    def _lines(self, heading: str, old: Sequence[Line], new: Sequence[Line]) -> None:
        matcher = difflib.SequenceMatcher(None, [x.md for x in old], [x.md for x in new], autojunk=False)
        anchor: Line | None = None  # the line the next insert goes after (None: the heading)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                anchor = new[j2 - 1]
                continue
            gone, added = old[i1:i2], new[j1:j2]
            pairs = min(len(gone), len(added))
            for was, now in zip(gone[:pairs], added[:pairs], strict=True):  # changed in place
                change = {
                    "operation": "replace",
                    "section_id": self.find(was.text),
                    "document_content": _content([now]),
                }
                self.edit(change, was.text)
                self.current[self.current.index(was)] = now
                anchor = now
            for was in gone[pairs:]:
                self.edit({"operation": "delete", "section_id": self.find(was.text)}, was.text)
                self.current.remove(was)
            if added[pairs:]:
                self._insert(heading, anchor, added[pairs:])
                anchor = added[-1]

    def _insert(self, heading: str, anchor: Line | None, lines: Sequence[Line]) -> None:
        """Insert `lines` after `anchor`; at the top of the section (None), before its first line
        (a note someone wrote right under the heading stays there), or after the heading."""
        if anchor is not None:
            op, target, at = "insert_after", anchor.text, self.current.index(anchor) + 1
            where = self.find(target)
        elif self.current:
            op, target, at = "insert_before", self.current[0].text, 0
            where = self.find(target)
        else:
            op, target, at = "insert_after", heading, 0
            where = self.find(heading, heading=True)
        self.edit({"operation": op, "section_id": where, "document_content": _content(lines)}, target)
        self.current[at:at] = lines

    def _rewrite(self, heading: str, new: Sequence[Line]) -> None:
        """Delete the section's lines that can be found once, insert it whole after its heading.
        A line nobody can find any more was rewritten or deleted by someone: it is theirs now."""
        try:
            for line in list(self.current):
                try:
                    found = self.find(line.text)
                except _Unfindable as exc:
                    if exc.count:
                        raise
                    self.current.remove(line)
                    continue
                self.edit({"operation": "delete", "section_id": found}, line.text)
                self.current.remove(line)
            self._insert(heading, None, new)
        except _Unfindable as exc:
            raise _Whole(f"section {heading!r} cannot be rewritten: {exc}") from exc


class ProjectPageJob(Job):
    """Bring an engagement's project page up to date: create it (a canvas, or a pinned message when
    canvases are refused) the first time, edit it after. Coalesced per engagement."""

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
            try:
                self._edit_canvas(out, canvas.ts, page_layout(title, sections))
            except SlackCallFailed as exc:
                if exc.error not in CANVAS_GONE:
                    log.warning("project page canvas %s not edited: %s", canvas.ts, exc.error)
                    return
                # Someone deleted the canvas: a new page, not edits into nothing.
                assert canvas.id is not None
                slack.relabel([canvas.id], GONE)
                forget_canvas(self.services, canvas.ts)
            else:
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

    def _edit_canvas(self, out: Sending, canvas_id: str, page: Page) -> None:
        """Edit the canvas from what was last written to `page`: line by line where it can, the
        whole document where it cannot (see the module's docstring). SlackCallFailed: refused."""
        written, version = written_canvas(self.services, canvas_id)
        if written == page:
            return  # nothing on the page changed (a tick inside a phase): no call
        if written is None or (written.title, written.footer, written.headings()) != (
            page.title,
            page.footer,
            page.headings(),
        ):
            self._replace(out, canvas_id, page)
            return
        edits = _CanvasEdits(out, canvas_id)
        done = dict(written.sections)
        heading = ""
        try:
            for heading, lines in page.sections:
                if done[heading] != lines:
                    edits.section(heading, done[heading], lines)
                    done[heading] = lines
        except _Whole as exc:
            log.info("project page canvas %s: %s; the whole page rewritten", canvas_id, exc)
            self._replace(out, canvas_id, page)
            return
        except BaseException:
            # Keep what landed (the next run goes on from there), unless that is not known.
            if edits.uncertain:
                forget_canvas(self.services, canvas_id)
            else:
                done[heading] = tuple(edits.current)
                landed = Page(page.title, tuple((h, done[h]) for h in page.headings()), page.footer)
                if not keep_canvas(self.services, canvas_id, self.engagement_id, landed, version):
                    forget_canvas(self.services, canvas_id)
            raise
        if not keep_canvas(self.services, canvas_id, self.engagement_id, page, version):
            # Another process edited the canvas from the same state meanwhile: lines may be twice.
            log.info(
                "project page canvas %s was edited by another process meanwhile; rewritten whole", canvas_id
            )
            self._replace(out, canvas_id, page)

    def _replace(self, out: Sending, canvas_id: str, page: Page) -> None:
        """Replace the whole document in one change (Slack applies a call's change at once)."""
        slack = out.slack
        change = {
            "operation": "replace",
            "document_content": {"type": "markdown", "markdown": page.markdown()},
        }
        try:
            out.call(
                "canvases.edit",
                "",
                lambda: _api(slack, "canvases.edit", canvas_id=canvas_id, changes=[change]),
            )
        except BaseException:
            forget_canvas(self.services, canvas_id)  # whether it landed is not known: replace next time
            raise
        keep_canvas(self.services, canvas_id, self.engagement_id, page, None, force=True)

    def _create(self, out: Sending, title: str, sections: list[Section]) -> None:
        slack = out.slack
        page = page_layout(title, sections)
        content = {"type": "markdown", "markdown": page.markdown()}
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
            canvas_id = str(answer["canvas_id"])
            slack.record(self.channel, canvas_id, kind=KIND, key=CANVAS, engagement_id=self.engagement_id)
            keep_canvas(self.services, canvas_id, self.engagement_id, page, None, force=True)
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


def written_canvas(services: Services, canvas_id: str) -> tuple[Page | None, int | None]:
    """What was last written to the canvas and its version (None, None: nothing kept)."""
    with services.db.read() as session:
        row = session.get(ProjectPageCanvas, canvas_id)
        if row is None:
            return None, None
        try:
            return Page.from_json(row.written), row.version
        except (ValueError, KeyError, TypeError):
            return None, row.version


def keep_canvas(
    services: Services,
    canvas_id: str,
    engagement_id: int,
    page: Page,
    version: int | None,
    *,
    force: bool = False,
) -> bool:
    """Store `page` as what the canvas holds, in place of the state at `version` (None: no row
    yet). False when another process stored something meanwhile (compare and set). `force`:
    whatever is stored (the whole document was just written)."""
    now = services.clock.now()
    values = {"written": page.to_json(), "written_at": now}
    for _ in range(2):
        try:
            with services.db.session() as session:
                row = session.get(ProjectPageCanvas, canvas_id)
                if row is None:
                    if version is not None and not force:
                        return False
                    session.add(
                        ProjectPageCanvas(
                            canvas_id=canvas_id,
                            engagement_id=engagement_id,
                            written=page.to_json(),
                            written_at=now,
                        )
                    )
                    return True
                if force:
                    row.written, row.written_at, row.version = page.to_json(), now, row.version + 1
                    return True
                if version is None:
                    return False
                result = session.execute(
                    update(ProjectPageCanvas)
                    .where(
                        col(ProjectPageCanvas.canvas_id) == canvas_id,
                        col(ProjectPageCanvas.version) == version,
                    )
                    .values(version=version + 1, **values)
                )
                return bool(result.rowcount == 1)  # type: ignore[attr-defined]
        except IntegrityError:  # another process inserted the row first
            if not force:
                return False
    return False


def forget_canvas(services: Services, canvas_id: str) -> None:
    """What the canvas holds is not known: its next refresh replaces the whole document."""
    with services.db.session() as session:
        session.execute(delete(ProjectPageCanvas).where(col(ProjectPageCanvas.canvas_id) == canvas_id))


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
