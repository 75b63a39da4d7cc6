"""Who reads the page, and who wrote what they read: the names behind mentions, the reader's
time zone, the context every rendering of blocks starts from, and a message's poster."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from sandbox.harness import PERSONAS

from .blocks import RenderContext
from .mrkdwn import Directory
from .session import TEAM_NAMES, Sandbox


def initials(name: str) -> str:
    """An avatar's letters: the first letters of the first two words of the name."""
    return "".join(w[0] for w in name.split()[:2]).upper()


def directory(sandbox: Sandbox, tz: ZoneInfo | None = None) -> Directory:
    """Names for mentions, and the reader's time zone for `<!date…>` tokens."""
    ws = sandbox.h.standin.ws
    with ws.lock:
        users = {uid: (u.real_name or u.name) for uid, u in ws.users.items()}
        channels = {cid: c.name for cid, c in ws.channels.items() if not c.is_im}
    return Directory(users=users, channels=channels, tz=tz, now=sandbox.clock.now())


def reader_tz(sandbox: Sandbox, user: str) -> ZoneInfo:
    """The persona's own time zone (their Slack profile's)."""
    return ZoneInfo(sandbox.h.standin.user(user).tz)


def render_context(sandbox: Sandbox, dirs: Directory, **kw: Any) -> RenderContext:
    """What rendering blocks needs: the directory, and the people and channels its selects offer."""
    users = [(p.user_id, f"{p.name} ({TEAM_NAMES.get(p.team_id, p.team_id)})") for p in PERSONAS]
    channels = [(cid, "#" + name) for cid, name in dirs.channels.items()]
    return RenderContext(directory=dirs, users=users, channels=channels, **kw)


def poster(sandbox: Sandbox, record: dict[str, Any] | None, dirs: Directory) -> tuple[str, str, bool]:
    """(name, initials, is the app) of who posted a message: golive, or a person (`post_as`)."""
    user = str((record or {}).get("user") or "")
    if not user or user == sandbox.h.standin.ws.bot_user_id:
        return "golive", "g", True
    name = dirs.user(user)
    return name, initials(name), False
