"""The whole page for one persona: who they are and who else they can be, the view they are on
(the channel, the Home tab, the app's messages or Activity), the open modal, the unread marker
and the clock. What each view shows is worked out in its own module: `conversation` (messages,
threads folded, the thread pane), `activity`, `views` (modal and Home tab)."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sandbox.harness import CHANNEL, PERSONAS, Persona

from .activity import ActivityEntry, activity
from .blocks import environment
from .conversation import Conversation, conversation
from .reader import initials
from .session import TEAM_NAMES, Sandbox
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
