"""Jinja2 templates → Block Kit JSON and fallback text.

Templates are JSON documents with `{{ … }}` inside strings. Every value printed with
`{{ … }}` is escaped for mrkdwn (`&`, `<`, `>`) and for JSON, unless it is already `Markup`
(made by the trusted filters below, e.g. `mention`). So callers hand raw user text to the
templates and can never forget to escape it.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined
from jinja2.bccache import Bucket, BytecodeCache
from markupsafe import Markup

from messages.escape import Trusted, cut, escape_mrkdwn
from messages.limits import MAX_MESSAGE_BLOCKS, fit_blocks, fit_fallback, fit_view

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,30}$")


class TemplateError(Exception):
    """A template rendered something that is not valid Block Kit JSON."""


@dataclass
class Message:
    """A rendered message: fallback text (for notifications and screen readers) and blocks."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def as_kwargs(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


def _json_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)[1:-1]


def _finalize(value: Any) -> Any:
    if isinstance(value, Markup):
        return value
    if isinstance(value, Trusted):
        return Markup(_json_str(value))
    if value is None:
        return Markup("")
    if isinstance(value, bool):
        return Markup("true" if value else "false")
    if isinstance(value, int | float):
        return Markup(str(value))
    return Markup(_json_str(escape_mrkdwn(str(value))))


def _trusted(s: str) -> Markup:
    """Text built here from validated parts; only JSON-escaped."""
    return Markup(_json_str(s))


def f_mention(user_id: str | None, fallback: str = "someone") -> Markup:
    if user_id and _USER_ID.match(user_id):
        return _trusted(f"<@{user_id}>")
    return _finalize(fallback)


def f_channel(channel_id: str | None) -> Markup:
    if channel_id and _CHANNEL_ID.match(channel_id):
        return _trusted(f"<#{channel_id}>")
    return _finalize("this channel")


def f_date(d: date | datetime | None, fmt: str = "%a %-d %b %Y", empty: str = "—") -> str:
    if d is None:
        return empty
    return d.strftime(fmt)


def f_slack_time(dt: datetime | None, fmt: str = "{date_short_pretty} {time}", fallback: str = "") -> Markup:
    """A timestamp Slack shows in each reader's own time zone."""
    if dt is None:
        return _finalize("—")
    fb = fallback or dt.strftime("%Y-%m-%d %H:%M UTC")
    return _trusted(f"<!date^{int(dt.timestamp())}^{fmt}|{escape_mrkdwn(fb)}>")


def f_cut(text: str | None, limit: int) -> str:
    return cut(text or "", limit)


def f_bar(done: int, total: int, width: int = 10) -> str:
    if total <= 0:
        return "░" * width + " –"
    filled = round(width * done / total)
    return "█" * filled + "░" * (width - filled) + f" {round(100 * done / total)}%"


def f_tojson(value: Any) -> Markup:
    """JSON for non-text values (button values, private_metadata): not mrkdwn-escaped."""
    return Markup(json.dumps(value, ensure_ascii=False, default=str))


def f_jsonstr(value: Any) -> Markup:
    """A JSON document as the *content* of a JSON string (button value, private_metadata)."""
    return _trusted(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str))


def f_mrkdwn(value: str) -> Markup:
    """Trusted mrkdwn produced by another template or by code that escaped its parts."""
    return _trusted(value)


class _ProcessBytecodeCache(BytecodeCache):
    """Compiled templates kept for the process, shared by every Renderer it builds. Jinja keys a
    template by its name and file and checks its source's checksum, so a changed template is
    compiled again. Every Renderer's Environment has the same options, which the compiled code
    depends on. A Renderer compiled the 58 templates in 0.6-0.7 s, the next one in 0.02 s; the test
    suite builds one per harness, about a thousand times."""

    def __init__(self) -> None:
        self._store: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def load_bytecode(self, bucket: Bucket) -> None:
        with self._lock:
            data = self._store.get(bucket.key)
        if data is not None:
            bucket.bytecode_from_string(data)

    def dump_bytecode(self, bucket: Bucket) -> None:
        data = bucket.bytecode_to_string()
        with self._lock:
            self._store[bucket.key] = data


_COMPILED = _ProcessBytecodeCache()


class Renderer:
    """Renders templates from the package, or from an override directory first."""

    def __init__(self, template_dir: Path | None = None) -> None:
        loaders: list[Any] = []
        if template_dir is not None:
            loaders.append(FileSystemLoader(str(template_dir)))
        loaders.append(PackageLoader("messages", "templates"))
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=True,
            finalize=_finalize,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            # Templates are read once per process: checking their files on every render cost
            # ~8% of a /golive status ack (py-spy). A changed template needs a restart.
            auto_reload=False,
            cache_size=-1,
            bytecode_cache=_COMPILED,
        )
        self.env.filters.update(
            mention=f_mention,
            channel=f_channel,
            date=f_date,
            slack_time=f_slack_time,
            cut=f_cut,
            bar=f_bar,
            tojson=f_tojson,
            jsonstr=f_jsonstr,
            mrkdwn=f_mrkdwn,
        )

    def compile_all(self) -> int:
        """Compile every template now (they are kept: cache_size=-1); returns how many. `serve`
        does it before forking its workers, so a broken override fails at start, and every worker
        starts with them compiled (the first answer of each kind in a fresh worker took 100-300 ms
        compiling its template, the p99 of a burst of status requests) and shares their memory."""
        names = [n for n in self.env.list_templates() if n.endswith(".j2")]
        for name in names:
            self.env.get_template(name)
        return len(names)

    def _load(self, name: str, ctx: dict[str, Any]) -> Any:
        raw = self.env.get_template(name).render(**ctx)
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            line = raw.splitlines()[exc.lineno - 1] if exc.lineno - 1 < len(raw.splitlines()) else ""
            raise TemplateError(
                f"{name}: invalid JSON at line {exc.lineno}: {exc.msg}: {line.strip()!r}"
            ) from exc

    def message(self, name: str, **ctx: Any) -> Message:
        """Render `name` (a template producing {"text": …, "blocks": […]})."""
        doc = self._load(name, ctx)
        blocks = [b for b in doc.get("blocks", []) if b]
        if len(blocks) > MAX_MESSAGE_BLOCKS:
            raise TemplateError(f"{name}: {len(blocks)} blocks; a message holds at most {MAX_MESSAGE_BLOCKS}")
        text = fit_fallback(doc.get("text") or "")
        if not text:
            raise TemplateError(f"{name}: every message needs fallback text")
        return Message(text=text, blocks=fit_blocks(blocks))

    def view(self, name: str, **ctx: Any) -> dict[str, Any]:
        """Render a modal or Home tab view."""
        return fit_view(self._load(name, ctx))
