"""The page's content for one persona: the timeline of messages, the modal, the Home tab, the
Activity pane, the unread marker and the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from markupsafe import Markup

from harness import CHANNEL, PERSONAS, Persona

from .blocks import RenderContext, environment, render_blocks, render_message
from .ephemeral import ephemeral_blocks
from .files import picture
from .mrkdwn import Directory, render_mrkdwn
from .session import TEAM_NAMES, Sandbox

VIEWS = ("channel", "home", "messages", "activity")

# Why Slack notified the person (standin/notify.py's reasons), as the Activity pane says it.
REASONS = {
    "mention": "Mention",
    "direct message": "Direct message",
    "following the thread": "Thread you follow",
}


@dataclass
class Person:
    """Who wrote a message, as its avatar shows them."""

    name: str
    initials: str
    app: bool


@dataclass
class Replies:
    """The "N replies" line under a message that starts a thread."""

    count: int
    people: list[Person]  # who replied, first repliers first (the avatars)
    last: str  # "today at 09:30"
    last_when: str  # the full date, for the title
    last_iso: str
    href: str  # the page with this thread open in the side pane
    open: bool  # the side pane shows this thread now


@dataclass
class Entry:
    """One message as the persona sees it."""

    ts: str
    html: Markup
    edited: bool
    ephemeral: bool
    reply: bool
    time: str
    when: str
    day: str
    files: list[dict[str, Any]]
    author: str = "golive"
    initials: str = "g"
    app: bool = True
    dom_id: str = ""  # the article's id: m-<ts>, unless another copy of the message has it
    thread_ts: str = ""  # for a reply: the message that starts its thread
    broadcast: bool = False  # a reply also sent to the channel (`thread_broadcast`)
    deleted: bool = False  # a deleted message kept as a placeholder for its thread
    replies: Replies | None = None
    thread_href: str = ""  # for a broadcast in the channel: its thread, in the pane

    @property
    def anchor(self) -> str:
        """The id the page goes back to after an action on this message (without JavaScript)."""
        return "a-" + self.dom_id


@dataclass
class ThreadPane:
    """A thread open in the side pane: the message that starts it, then its replies."""

    ts: str
    parent: Entry
    replies: list[Entry]
    count: int
    close_href: str
    channel_name: str


@dataclass
class Conversation:
    """What the channel (or the app's messages) shows: top-level messages, threads folded."""

    entries: list[Entry]
    pane: ThreadPane | None
    here: str  # this page's address, with its open thread: where actions come back to
    threads: dict[str, str]  # reply ts -> its thread's ts (old `#m-<reply>` links open the thread)


@dataclass
class ActivityEntry:
    """One notification in the person's Activity pane."""

    seq: int
    ts: str
    reason: str  # the stand-in's: mention | direct message | following the thread | @channel…
    label: str  # how the pane says it: Mention, Direct message, Thread you follow, @channel
    where: str  # #acme-implementation or Direct message
    in_thread: bool
    href: str | None  # the message on the page, when the sandbox shows its channel
    author: str
    initials: str
    app: bool
    html: Markup
    time: str
    when: str
    iso: str
    new: bool  # not seen in Activity before this visit


@dataclass
class PersonaCard:
    user_id: str
    name: str
    title: str
    workspace: str
    customer: bool
    initials: str


def card(p: Persona) -> PersonaCard:
    return PersonaCard(
        user_id=p.user_id,
        name=p.name,
        title=p.title,
        workspace=TEAM_NAMES.get(p.team_id, p.team_id),
        customer=Sandbox.is_customer(p),
        initials="".join(w[0] for w in p.name.split()[:2]).upper(),
    )


def directory(sandbox: Sandbox, tz: ZoneInfo | None = None) -> Directory:
    """Names for mentions, and the reader's time zone for `<!date…>` tokens."""
    ws = sandbox.h.standin.ws
    with ws.lock:
        users = {uid: (u.real_name or u.name) for uid, u in ws.users.items()}
        channels = {cid: c.name for cid, c in ws.channels.items() if not c.is_im}
    return Directory(users=users, channels=channels, tz=tz)


def reader_tz(sandbox: Sandbox, user: str) -> ZoneInfo:
    """The persona's own time zone (their Slack profile's)."""
    return ZoneInfo(sandbox.h.standin.user(user).tz)


def _files(record: dict[str, Any], stored: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Files shared with a message, each with the sandbox's download link; a PNG or JPEG picture
    also with its preview (`picture`: its size, the preview's address and its alt text)."""
    out: list[dict[str, Any]] = []
    for f in record.get("files") or []:
        if not isinstance(f, dict) or not f.get("id"):
            continue
        found = stored.get(str(f["id"])) or {}
        shown = picture(found.get("content"))
        title = str(f.get("title") or f.get("name") or "")
        out.append(
            {
                "name": str(f.get("name") or ""),
                "title": title,
                "url": f"/files/{f['id']}",
                "picture": None
                if shown is None
                else {
                    "src": f"/files/{f['id']}/preview",
                    "width": shown.width,
                    "height": shown.height,
                    "alt": str(found.get("alt_txt") or title),
                },
            }
        )
    return out


def _context(sandbox: Sandbox, dirs: Directory, **kw: Any) -> RenderContext:
    users = [(p.user_id, f"{p.name} ({TEAM_NAMES.get(p.team_id, p.team_id)})") for p in PERSONAS]
    channels = [(cid, "#" + name) for cid, name in dirs.channels.items()]
    return RenderContext(directory=dirs, users=users, channels=channels, **kw)


def _parent_of(m: dict[str, Any]) -> str:
    """The ts of the thread a reply belongs to ("" for a top-level message)."""
    thread = str(m.get("thread_ts") or "")
    return thread if thread and thread != m["ts"] else ""


def page_address(channel: str, thread: str = "") -> str:
    """The page of the channel (or the app's messages), with `thread` open in the side pane."""
    query = {} if channel == CHANNEL else {"view": "messages"}
    if thread:
        query["thread"] = thread
    return "/" + ("?" + urlencode(query) if query else "")


def _last_reply(at: datetime, now: datetime) -> str:
    """When the last reply came, as Slack says it: "today at 09:30", "yesterday at 17:05",
    "Thu 3 Dec at 09:30" (the reader's time zone)."""
    days = (now.date() - at.date()).days
    day = {0: "today", 1: "yesterday"}.get(days) or f"{at:%a} {at.day} {at:%b}"
    return f"{day} at {at:%H:%M}"


def conversation(sandbox: Sandbox, user: str, channel: str, tz: ZoneInfo, thread: str = "") -> Conversation:
    """The channel's top-level messages and the persona's ephemerals, oldest first, each thread
    folded into a "N replies" line; `thread` (a thread's ts) open in the side pane, with the
    message that starts it and its replies. A reply sent to the channel too (`reply_broadcast`,
    Slack's `thread_broadcast`) shows in both places; a deleted message that has replies stays
    as "This message was deleted." with its thread."""
    s = sandbox.h.standin
    dirs = directory(sandbox, tz)
    now = sandbox.clock.now().astimezone(tz)
    records = s.messages(channel)
    alive = [m for m in records if not m.get("deleted")]
    by_ts = {m["ts"]: m for m in records}
    threads: dict[str, list[dict[str, Any]]] = {}
    for m in alive:
        if _parent_of(m):
            threads.setdefault(_parent_of(m), []).append(m)
    ephemerals = [e for e in s.ephemerals(channel=channel, user=user) if not e.get("deleted")]
    stored = {str(f.get("id")): f for f in s.files} if any(m.get("files") for m in alive) else {}

    def shown_in_channel(m: dict[str, Any]) -> bool:
        if _parent_of(m):
            return bool(m.get("reply_broadcast")) and not m.get("deleted")
        return not m.get("deleted") or m["ts"] in threads

    parent = by_ts.get(thread) if thread else None
    if parent is None or _parent_of(parent) or (parent.get("deleted") and thread not in threads):
        thread = ""  # not a thread of this channel: no pane
    here = page_address(channel, thread)
    in_pane = {m["ts"] for m in threads.get(thread, [])} if thread else set()

    def entry(m: dict[str, Any], ephemeral: bool, dom_id: str) -> Entry:
        where = "ephemeral" if ephemeral else "message"
        anchor = "a-" + dom_id
        ctx = _context(
            sandbox, dirs, where=where, channel=channel, ts=m["ts"], back=f"{here}#{anchor}", scope=dom_id
        )
        deleted = bool(m.get("deleted"))
        if deleted:
            html = Markup('<div class="b-text deleted-text">This message was deleted.</div>')
        elif ephemeral:
            html = render_message(m.get("text"), ephemeral_blocks(m), ctx)
        else:
            html = render_message(m.get("text"), s.ws.filled_blocks(m), ctx)
        local = sandbox.stamp_of(m["ts"]).astimezone(tz)
        author, initials, app = ("golive", "g", True) if ephemeral else poster(sandbox, m, dirs)
        replies = None if ephemeral or _parent_of(m) else threads.get(m["ts"])
        return Entry(
            ts=m["ts"],
            html=html,
            edited=bool(m.get("edited") or m.get("replaced")) and not deleted,
            ephemeral=ephemeral,
            reply=bool(_parent_of(m)),
            time=local.strftime("%H:%M"),
            when=local.strftime("%a %d %b %Y %H:%M %Z"),
            day=local.strftime("%A, %d %B"),
            files=[] if ephemeral or deleted else _files(m, stored),
            author="" if deleted else author,
            initials="" if deleted else initials,
            app=app and not deleted,
            dom_id=dom_id,
            thread_ts=_parent_of(m),
            broadcast=bool(m.get("reply_broadcast")) and bool(_parent_of(m)),
            deleted=deleted,
            replies=_replies(sandbox, m["ts"], replies, dirs, tz, now, channel, thread) if replies else None,
            thread_href=page_address(channel, _parent_of(m)) if _parent_of(m) else "",
        )

    top: list[tuple[float, dict[str, Any], bool]] = [
        (float(m["ts"]), m, False) for m in records if shown_in_channel(m)
    ]
    top += [(float(e["ts"]), e, True) for e in ephemerals if not _parent_of(e)]
    top.sort(key=lambda x: x[0])
    entries = [entry(m, eph, ("c-" if m["ts"] in in_pane else "m-") + m["ts"]) for _, m, eph in top]

    pane = None
    if thread and parent is not None:
        replies_in = [(float(m["ts"]), m, False) for m in threads.get(thread, [])]
        replies_in += [(float(e["ts"]), e, True) for e in ephemerals if _parent_of(e) == thread]
        replies_in.sort(key=lambda x: x[0])
        pane = ThreadPane(
            ts=thread,
            parent=entry(parent, False, "t-" + thread),
            replies=[entry(m, eph, "m-" + m["ts"]) for _, m, eph in replies_in],
            count=len(threads.get(thread, [])),
            close_href=page_address(channel),
            channel_name="#" + dirs.channel(channel) if channel == CHANNEL else "golive",
        )
    index = {m["ts"]: parent_ts for parent_ts, found in threads.items() for m in found}
    return Conversation(entries=entries, pane=pane, here=here, threads=index)


def _replies(
    sandbox: Sandbox,
    ts: str,
    replies: list[dict[str, Any]],
    dirs: Directory,
    tz: ZoneInfo,
    now: datetime,
    channel: str,
    thread: str,
) -> Replies:
    people: list[Person] = []
    for r in replies:
        person = Person(*poster(sandbox, r, dirs))
        if person not in people:
            people.append(person)
    last = sandbox.stamp_of(replies[-1]["ts"]).astimezone(tz)
    return Replies(
        count=len(replies),
        people=people[:5],
        last=_last_reply(last, now),
        last_when=last.strftime("%a %d %b %Y %H:%M %Z"),
        last_iso=last.isoformat(),
        href=page_address(channel, ts),
        open=ts == thread,
    )


def poster(sandbox: Sandbox, record: dict[str, Any] | None, dirs: Directory) -> tuple[str, str, bool]:
    """(name, initials, is the app) of who posted a message: golive, or a person (`post_as`)."""
    user = str((record or {}).get("user") or "")
    if not user or user == sandbox.h.standin.ws.bot_user_id:
        return "golive", "g", True
    name = dirs.user(user)
    return name, "".join(w[0] for w in name.split()[:2]).upper(), False


def message_anchor(ts: str) -> str:
    """The id of a message's article on the page (Activity links to it)."""
    return "m-" + ts


def activity(sandbox: Sandbox, user: str, tz: ZoneInfo) -> list[ActivityEntry]:
    """The person opens Activity: their notifications, newest first, with why, where and when;
    what Slack's push showed (the message's `text`) rendered as mrkdwn, escaped first."""
    s = sandbox.h.standin
    dirs = directory(sandbox, tz)
    im = s.im_channel(user)
    found, seen = sandbox.open_activity(user)
    out: list[ActivityEntry] = []
    for n in found:
        record = s.message(n.channel, n.ts)
        deleted = record is None or bool(record.get("deleted"))
        if n.channel == CHANNEL or (im is not None and n.channel == im):
            # A reply is shown in its thread: the link opens the thread in the side pane.
            href: str | None = (
                page_address(n.channel, _parent_of(record or {"ts": n.ts})) + "#" + message_anchor(n.ts)
            )
        else:
            href = None  # a channel the sandbox does not show
        where = "Direct message" if n.reason == "direct message" else "#" + dirs.channel(n.channel)
        author, initials, app = poster(sandbox, record, dirs)
        local = sandbox.stamp_of(n.ts).astimezone(tz)
        out.append(
            ActivityEntry(
                seq=n.seq,
                ts=n.ts,
                reason=n.reason,
                label=REASONS.get(n.reason, n.reason),
                where=where,
                in_thread=n.in_thread,
                href=None if deleted else href,
                author=author,
                initials=initials,
                app=app,
                html=Markup("<i>This message was deleted.</i>") if deleted else render_mrkdwn(n.text, dirs),
                time=local.strftime("%a %d %b, %H:%M"),
                when=local.strftime("%a %d %b %Y %H:%M %Z"),
                iso=local.isoformat(),
                new=n.seq > seen,
            )
        )
    return out


def modal(sandbox: Sandbox, user: str) -> dict[str, Any] | None:
    """The persona's top open modal, rendered, with its validation errors and typed values."""
    view = sandbox.open_modal(user)
    if view is None:
        return None
    dirs = directory(sandbox, reader_tz(sandbox, user))
    state = dict(view.get("state", {}).get("values") or {})
    state.update(sandbox.view_draft(view["id"], view["hash"]))
    errors = sandbox.view_errors(view["id"], view["hash"])
    ctx = _context(
        sandbox,
        dirs,
        where="view",
        view_id=view["id"],
        form_id=f"vf-{view['id']}",
        state=state,
        errors=errors,
    )
    return {
        "id": view["id"],
        "form_id": ctx.form_id,
        "title": ctx.text(view.get("title")),
        "submit": ctx.text(view.get("submit")) if view.get("submit") else None,
        "close": ctx.text(view.get("close")) if view.get("close") else Markup("Close"),
        "html": render_blocks(view.get("blocks") or [], ctx),
        "stacked": view["stack_depth"] > 1,
        "errors": errors,
    }


def home(sandbox: Sandbox, user: str) -> Markup | None:
    view = sandbox.home_view(user)
    if view is None:
        return None
    ctx = _context(
        sandbox,
        directory(sandbox, reader_tz(sandbox, user)),
        where="view",
        view_id=view["id"],
        back="/?view=home",
    )
    return render_blocks(view.get("blocks") or [], ctx)


def clock(sandbox: Sandbox) -> dict[str, str]:
    now = sandbox.clock.now()
    local = now.astimezone(sandbox.customer_tz)
    return {
        "utc": now.strftime("%a %d %b %Y, %H:%M UTC"),
        "local": local.strftime("%a %d %b %Y, %H:%M ") + (local.tzname() or ""),
        "zone": sandbox.h.customer_tz,
        "zone_city": sandbox.h.customer_tz.split("/")[-1].replace("_", " "),
        "input": local.strftime("%Y-%m-%dT%H:%M"),
    }


def render_page(sandbox: Sandbox, user: str, view: str, thread: str = "") -> str:
    """The whole HTML page for `user` on the channel, the Home tab, the app's messages or Activity,
    with the thread `thread` open in the side pane (the channel and the app's messages).
    Viewing the channel marks it read for the person; opening Activity makes its notifications seen."""
    persona = sandbox.persona(user)
    me = card(persona)
    view = view if view in VIEWS else "channel"
    sandbox.stamp()
    s = sandbox.h.standin
    tz = ZoneInfo(s.user(persona.user_id).tz)
    shown = Conversation(
        entries=[], pane=None, here="/" if view == "channel" else "/?view=" + view, threads={}
    )
    notified: list[ActivityEntry] = []
    if view == "channel":
        sandbox.mark_read(persona.user_id, CHANNEL)  # the person is looking at it
        shown = conversation(sandbox, persona.user_id, CHANNEL, tz, thread)
    elif view == "messages":
        im = s.im_channel(persona.user_id)
        if im:
            shown = conversation(sandbox, persona.user_id, im, tz, thread)
    elif view == "activity":
        notified = activity(sandbox, persona.user_id, tz)
    other_org = "Vendor Inc" if me.customer else "Acme Corp"
    return (
        environment()
        .get_template("page.html")
        .render(
            me=me,
            people=[card(p) for p in PERSONAS],
            view=view,
            entries=shown.entries,
            pane=shown.pane,
            here=shown.here,
            thread_index=shown.threads,
            activity=notified,
            unread=sandbox.unread(persona.user_id).get(CHANNEL, 0),
            activity_new=sandbox.unseen_activity(persona.user_id),
            modal=modal(sandbox, persona.user_id),
            home=home(sandbox, persona.user_id) if view == "home" and not me.customer else None,
            notes=sandbox.take_notes(persona.user_id),
            clock=clock(sandbox),
            sweep_report=sandbox.sweep_report,
            command=sandbox.command_name,
            channel_name=s.channel(CHANNEL).name,
            other_org=other_org,
            members=len(s.channel(CHANNEL).members),
        )
    )
