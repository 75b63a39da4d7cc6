"""Slack mrkdwn and plain_text → safe HTML, for the sandbox page.

Everything is escaped for HTML first; formatting is applied to the escaped text afterwards, so
text from users can never inject markup. Slack's own entities (`&amp;`, `&lt;`, `&gt;`) are
decoded last, on top of the HTML escaping (`&amp;lt;` → `&lt;`, which the browser shows as `<`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

# The emoji codes the bot uses, and a few common ones. Unknown codes stay as text.
EMOJI: dict[str, str] = {
    "rocket": "🚀",
    "pray": "🙏",
    "white_square": "⬜",
    "heavy_minus_sign": "➖",
    "clapper": "🎬",
    "double_vertical_bar": "⏸️",
    "white_check_mark": "✅",
    "heavy_check_mark": "✔️",
    "ballot_box_with_check": "☑️",
    "warning": "⚠️",
    "tada": "🎉",
    "calendar": "📅",
    "date": "📅",
    "spiral_calendar_pad": "🗓️",
    "large_green_circle": "🟢",
    "large_yellow_circle": "🟡",
    "large_orange_circle": "🟠",
    "red_circle": "🔴",
    "white_circle": "⚪",
    "black_circle": "⚫",
    "arrow_forward": "▶️",
    "arrow_right": "➡️",
    "arrow_down": "⬇️",
    "leftwards_arrow_with_hook": "↩️",
    "test_tube": "🧪",
    "no_entry_sign": "🚫",
    "no_entry": "⛔",
    "mag": "🔍",
    "heavy_plus_sign": "➕",
    "gear": "⚙️",
    "face_with_head_bandage": "🤕",
    "bust_in_silhouette": "👤",
    "busts_in_silhouette": "👥",
    "art": "🎨",
    "bell": "🔔",
    "alarm_clock": "⏰",
    "hourglass_flowing_sand": "⏳",
    "hourglass": "⌛",
    "memo": "📝",
    "pencil": "📝",
    "pushpin": "📌",
    "clipboard": "📋",
    "lock": "🔒",
    "key": "🔑",
    "x": "❌",
    "heavy_multiplication_x": "✖️",
    "question": "❓",
    "exclamation": "❗",
    "information_source": "ℹ️",
    "bulb": "💡",
    "wave": "👋",
    "clap": "👏",
    "thumbsup": "👍",
    "+1": "👍",
    "eyes": "👀",
    "bar_chart": "📊",
    "rotating_light": "🚨",
    "hammer_and_wrench": "🛠️",
    "wrench": "🔧",
    "link": "🔗",
    "inbox_tray": "📥",
    "outbox_tray": "📤",
    "email": "📧",
    "envelope": "✉️",
    "sunrise": "🌅",
    "zzz": "💤",
    "stopwatch": "⏱️",
    "chart_with_upwards_trend": "📈",
    "checkered_flag": "🏁",
    "construction": "🚧",
    "sparkles": "✨",
    "fire": "🔥",
    "star": "⭐",
    "speech_balloon": "💬",
    "raising_hand": "🙋",
    "handshake": "🤝",
    "page_facing_up": "📄",
    "file_folder": "📁",
}

_EMOJI_CODE = re.compile(r":([a-z0-9_+\-]+):")
_SLACK_ENTITY = re.compile(r"&amp;(amp|lt|gt);")
_ANGLE = re.compile(r"<([^<>\n]+)>")
_CODE_BLOCK = re.compile(r"```(.+?)```", re.S)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_SAFE_SCHEMES = ("http://", "https://", "mailto:")
_MARK = "\x00"
_STASHED = re.compile(_MARK + r"(\d+)" + _MARK)


def _style(marker: str, tag: str) -> tuple[re.Pattern[str], str]:
    m = re.escape(marker)
    pattern = re.compile(rf"(?<![\w{m}]){m}(?=[^\s{m}])([^\n{m}]*?[^\s{m}]|[^\s{m}]){m}(?![\w{m}])")
    return pattern, rf"<{tag}>\1</{tag}>"


_STYLES = [_style("*", "b"), _style("_", "i"), _style("~", "s")]


@dataclass
class Directory:
    """Names for mentions: user id → display name, channel id → channel name; and the reader's
    time zone, in which `<!date^…>` tokens are shown (as Slack shows them to each reader), and
    the time "today" is measured from."""

    users: dict[str, str] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)
    tz: ZoneInfo | None = None
    # "now" for today / yesterday / tomorrow: the sandbox's clock, not the machine's (None: the machine's)
    now: datetime | None = None

    def user(self, user_id: str) -> str:
        return self.users.get(user_id, user_id)

    def channel(self, channel_id: str) -> str:
        return self.channels.get(channel_id, channel_id)


def emojify(html: str) -> str:
    """Replace known `:code:` emoji in (already escaped) text with the character."""
    return _EMOJI_CODE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), html)


def _decode_entities(html: str) -> str:
    return _SLACK_ENTITY.sub(r"&\1;", html)


def _text(raw: str, emoji: bool = True) -> str:
    """Escape raw Slack text for HTML, then decode Slack's entities (no formatting)."""
    html = str(escape(raw))
    if emoji:
        html = emojify(html)
    return _decode_entities(html)


def render_plain(text: str | None, emoji: bool = True) -> Markup:
    """A plain_text object's text: escaped, emoji codes replaced (when `emoji`), newlines kept."""
    return Markup(_text(text or "", emoji).replace("\n", "<br>"))


def _angle(token: str, directory: Directory) -> str:
    """HTML for one `<…>` token: a mention, a channel, a special mention, a date, or a link."""
    target, _, label = token.partition("|")
    if target.startswith("@"):
        name = label or directory.user(target[1:])
        return str(Markup('<span class="mention">@{}</span>').format(Markup(_text(name, emoji=False))))
    if target.startswith("#"):
        name = label or directory.channel(target[1:])
        return str(Markup('<span class="mention">#{}</span>').format(Markup(_text(name, emoji=False))))
    if target.startswith("!"):
        head = target[1:].split("^")[0]
        if head == "date":
            shown = format_date_token(target, directory.tz, now=directory.now)
            return _text(shown if shown is not None else (label or target))
        if head in ("here", "channel", "everyone"):
            return str(Markup('<span class="mention">@{}</span>').format(head))
        return _text(label or "@" + head)
    href = _text(target, emoji=False)
    if not target.lower().startswith(_SAFE_SCHEMES):
        return _text("<" + token + ">")
    shown = _text(label) if label else href
    return str(
        Markup('<a href="{}" rel="noopener noreferrer" target="_blank">{}</a>').format(
            Markup(href), Markup(shown)
        )
    )


_DATE_TOKEN = re.compile(r"\{(\w+)\}")


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def format_date_token(target: str, tz: ZoneInfo | None, *, now: datetime | None = None) -> str | None:
    """`!date^<unix>^<format>[^<link>]` as Slack shows it to a reader in `tz` (None: not known,
    the token's fallback is shown). The format's `{date_num}`, `{date}`, `{date_short}`,
    `{date_long}`, their `_pretty` forms (today, yesterday, tomorrow), `{time}` and
    `{time_secs}` are filled in; None when the token cannot be read."""
    parts = target.split("^")
    if tz is None or len(parts) < 3 or not parts[1].lstrip("-").isdigit():
        return None
    at = datetime.fromtimestamp(int(parts[1]), tz)
    today = (now or datetime.now(tz)).astimezone(tz).date()
    relative = {today: "today", today - timedelta(days=1): "yesterday", today + timedelta(days=1): "tomorrow"}

    def fill(m: re.Match[str]) -> str:
        key = m.group(1)
        plain = {
            "date_num": at.strftime("%Y-%m-%d"),
            "date": f"{at:%B} {_ordinal(at.day)}, {at.year}",
            "date_short": f"{at:%b} {at.day}, {at.year}",
            "date_long": f"{at:%A}, {at:%B} {_ordinal(at.day)}, {at.year}",
            "time": at.strftime("%H:%M"),
            "time_secs": at.strftime("%H:%M:%S"),
        }
        if key.endswith("_pretty") and key[: -len("_pretty")] in plain:
            return relative.get(at.date(), plain[key[: -len("_pretty")]])
        return plain.get(key, m.group(0))

    return _DATE_TOKEN.sub(fill, parts[2])


def _quotes(html: str) -> str:
    """Lines that start with `>` (a raw one: the escaped `&gt;` of user text stays text) are
    block quotes, as in Slack."""
    out: list[str] = []
    for line in html.split("\n"):
        if line.startswith("&gt;"):
            out.append(f'<blockquote class="quote">{line[len("&gt;") :].lstrip()}</blockquote>')
        else:
            out.append(line + "\n")
    return "".join(out).removesuffix("\n")


def render_mrkdwn(text: str | None, directory: Directory | None = None) -> Markup:
    """A mrkdwn text as HTML: formatting, code, links, mentions, dates, emoji, entities, newlines."""
    directory = directory or Directory()
    raw = (text or "").replace(_MARK, "")
    stash: list[str] = []

    def keep(html: str) -> str:
        stash.append(html)
        return f"{_MARK}{len(stash) - 1}{_MARK}"

    def code_block(m: re.Match[str]) -> str:
        body = m.group(1).strip("\n")
        return keep(f'<pre class="code-block">{_text(body, emoji=False)}</pre>')

    raw = _CODE_BLOCK.sub(code_block, raw)
    raw = _INLINE_CODE.sub(lambda m: keep(f"<code>{_text(m.group(1), emoji=False)}</code>"), raw)
    raw = _ANGLE.sub(lambda m: keep(_angle(m.group(1), directory)), raw)
    html = emojify(str(escape(raw)))
    for pattern, repl in _STYLES:
        html = pattern.sub(repl, html)
    html = _decode_entities(_quotes(html)).replace("\n", "<br>")
    while _STASHED.search(html):
        html = _STASHED.sub(lambda m: stash[int(m.group(1))], html)
    return Markup(html)


def render_text(obj: dict | str | None, directory: Directory | None = None) -> Markup:
    """A Block Kit text object (`plain_text` or `mrkdwn`) as HTML."""
    if obj is None:
        return Markup("")
    if isinstance(obj, str):
        return render_plain(obj)
    if obj.get("type") == "mrkdwn":
        return render_mrkdwn(obj.get("text"), directory)
    return render_plain(obj.get("text"), emoji=obj.get("emoji", True) is not False)


def text_of(obj: dict | str | None) -> str:
    """The raw text of a text object, for attributes such as `title` and `confirm()` dialogs."""
    if obj is None:
        return ""
    if isinstance(obj, str):
        return obj
    raw = str(obj.get("text") or "")
    return raw.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
