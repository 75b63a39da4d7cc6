"""The whole page for one persona: who they are and who else they can be, the view they are on
(the channel, the Home tab, the app's messages or Activity), the open modal, the unread marker
and the clock. What each view shows is worked out in its own module: `conversation` (messages,
threads folded, the thread pane), `activity`, `views` (modal and Home tab)."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sandbox.harness import PERSONAS, Persona

from .activity import ActivityEntry, activity
from .blocks import environment
from .conversation import Conversation, conversation, page_address
from .reader import initials
from .session import TEAM_NAMES, Invitation, Sandbox
from .views import home, modal

VIEWS = ("channel", "home", "messages", "activity")


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
        initials=initials(p.name),
    )


@dataclass
class ChannelLink:
    """A channel in the sidebar's list."""

    id: str
    name: str
    href: str
    shared: bool  # a Slack Connect channel: both organisations are in it
    private: bool
    unread: int
    current: bool


def channel_links(sandbox: Sandbox, user: str, current: str, view: str) -> list[ChannelLink]:
    unread = sandbox.unread(user)
    return [
        ChannelLink(
            id=c.id,
            name=c.name,
            href=page_address(c.id),
            shared=c.is_ext_shared,
            private=c.is_private,
            unread=unread.get(c.id, 0),
            current=view == "channel" and c.id == current,
        )
        for c in sandbox.channels_of(user)
    ]


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


def render_page(sandbox: Sandbox, user: str, view: str, thread: str = "", channel: str = "") -> str:
    """The whole HTML page for `user` on a channel (`channel`, one they are in; else the shared
    one), the Home tab, the app's messages or Activity, with the thread `thread` open in the side
    pane (a channel and the app's messages). Viewing a channel marks it read for the person;
    opening Activity makes its notifications seen."""
    persona = sandbox.persona(user)
    channel = sandbox.channel_for(persona.user_id, channel)
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
        sandbox.mark_read(persona.user_id, channel)  # the person is looking at it
        shown = conversation(sandbox, persona.user_id, channel, tz, thread)
    elif view == "messages":
        im = s.im_channel(persona.user_id)
        if im:
            shown = conversation(sandbox, persona.user_id, im, tz, thread)
    elif view == "activity":
        notified = activity(sandbox, persona.user_id, tz)
    other_org = "Vendor Inc" if me.customer else "Acme Corp"
    here_channel = s.channel(channel)
    channels = channel_links(sandbox, persona.user_id, channel, view)
    invitations: list[Invitation] = sandbox.invitations(persona.user_id) if me.customer else []
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
            unread=next((c.unread for c in channels if c.id == channel), 0),
            channels=channels,
            channel=channel,
            channel_href=page_address(channel),
            shared=here_channel.is_ext_shared,
            private=here_channel.is_private,
            invitations=invitations,
            activity_new=sandbox.unseen_activity(persona.user_id),
            modal=modal(sandbox, persona.user_id),
            home=home(sandbox, persona.user_id) if view == "home" and not me.customer else None,
            notes=sandbox.take_notes(persona.user_id),
            clock=clock(sandbox),
            sweep_report=sandbox.sweep_report,
            command=sandbox.command_name,
            channel_name=here_channel.name,
            other_org=other_org,
            members=len(here_channel.members),
        )
    )
