"""The page's content for one persona: the timeline of messages, the modal, the Home tab, the
Activity pane, the unread marker and the clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup

from harness import CHANNEL, PERSONAS, Persona

from .blocks import RenderContext, environment, render_blocks, render_message
from .ephemeral import ephemeral_blocks
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
    files: list[dict[str, str]]
    author: str = "golive"
    initials: str = "g"
    app: bool = True


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


def _files(record: dict[str, Any]) -> list[dict[str, str]]:
    """Files shared with a message, each with the sandbox's download link."""
    return [
        {
            "name": str(f.get("name") or ""),
            "title": str(f.get("title") or f.get("name") or ""),
            "url": f"/files/{f['id']}",
        }
        for f in record.get("files") or []
        if isinstance(f, dict) and f.get("id")
    ]


def _context(sandbox: Sandbox, dirs: Directory, **kw: Any) -> RenderContext:
    users = [(p.user_id, f"{p.name} ({TEAM_NAMES.get(p.team_id, p.team_id)})") for p in PERSONAS]
    channels = [(cid, "#" + name) for cid, name in dirs.channels.items()]
    return RenderContext(directory=dirs, users=users, channels=channels, **kw)


def timeline(sandbox: Sandbox, user: str, channel: str, tz: ZoneInfo) -> list[Entry]:
    """The channel's messages and the persona's ephemerals, oldest first, with sandbox times."""
    s = sandbox.h.standin
    dirs = directory(sandbox, tz)
    items: list[tuple[float, dict[str, Any], bool]] = []
    for m in s.messages(channel, include_deleted=False):
        items.append((float(m["ts"]), m, False))
    for e in s.ephemerals(channel=channel, user=user):
        if not e.get("deleted"):
            items.append((float(e["ts"]), e, True))
    items.sort(key=lambda x: x[0])
    out: list[Entry] = []
    for _, m, ephemeral in items:
        if ephemeral:
            ctx = _context(sandbox, dirs, where="ephemeral", channel=channel, ts=m["ts"], back=_back(channel))
            html = render_message(m.get("text"), ephemeral_blocks(m), ctx)
        else:
            ctx = _context(sandbox, dirs, where="message", channel=channel, ts=m["ts"], back=_back(channel))
            html = render_message(m.get("text"), s.ws.filled_blocks(m), ctx)
        local = sandbox.stamp_of(m["ts"]).astimezone(tz)
        author, initials, app = ("golive", "g", True) if ephemeral else poster(sandbox, m, dirs)
        out.append(
            Entry(
                ts=m["ts"],
                html=html,
                edited=bool(m.get("edited") or m.get("replaced")),
                ephemeral=ephemeral,
                reply=bool(m.get("thread_ts")) and m.get("thread_ts") != m["ts"],
                time=local.strftime("%H:%M"),
                when=local.strftime("%a %d %b %Y %H:%M %Z"),
                day=local.strftime("%A, %d %B"),
                files=[] if ephemeral else _files(m),
                author=author,
                initials=initials,
                app=app,
            )
        )
    return out


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
        if n.channel == CHANNEL:
            href: str | None = "/#" + message_anchor(n.ts)
        elif im is not None and n.channel == im:
            href = "/?view=messages#" + message_anchor(n.ts)
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


def _back(channel: str) -> str:
    return "/" if channel == CHANNEL else "/?view=messages"


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


def render_page(sandbox: Sandbox, user: str, view: str) -> str:
    """The whole HTML page for `user` on the channel, the Home tab, the app's messages or Activity.
    Viewing the channel marks it read for the person; opening Activity makes its notifications seen."""
    persona = sandbox.persona(user)
    me = card(persona)
    view = view if view in VIEWS else "channel"
    sandbox.stamp()
    s = sandbox.h.standin
    tz = ZoneInfo(s.user(persona.user_id).tz)
    entries: list[Entry] = []
    notified: list[ActivityEntry] = []
    if view == "channel":
        sandbox.mark_read(persona.user_id, CHANNEL)  # the person is looking at it
        entries = timeline(sandbox, persona.user_id, CHANNEL, tz)
    elif view == "messages":
        im = s.im_channel(persona.user_id)
        entries = timeline(sandbox, persona.user_id, im, tz) if im else []
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
            entries=entries,
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
