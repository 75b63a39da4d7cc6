"""Block Kit → HTML for the sandbox page, and sandbox form fields → Block Kit values.

Each interactive element of a message (or of the Home tab) becomes a small form posting to
`/action` with the element's `block_id` and `action_id`; the elements of a modal's `input`
blocks become fields of the modal's form (named by `field_name`). `render_blocks` does the
first, `form_values` reads the second back into `{block_id: {action_id: value}}`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from standin.payloads import STATE_KEYS

from .mrkdwn import Directory, render_mrkdwn, render_text, text_of

Where = Literal["message", "view", "ephemeral"]

MULTI_ELEMENTS = frozenset(
    {
        "checkboxes",
        "multi_static_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
        "multi_external_select",
    }
)
TEXT_ELEMENTS = frozenset({"plain_text_input", "email_text_input", "url_text_input", "number_input"})
# Elements that send their action as soon as they change (buttons and menus submit anyway).
AUTOSUBMIT = frozenset(
    {
        "checkboxes",
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "radio_buttons",
        "datepicker",
        "timepicker",
        "datetimepicker",
    }
)
REQUIRED_MESSAGE = "Please complete this required field."

_env = Environment(
    loader=PackageLoader("sandbox", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def environment() -> Environment:
    """The Jinja2 environment of the sandbox's templates (autoescaping on)."""
    return _env


def field_name(block: Mapping[str, Any], element: Mapping[str, Any]) -> str:
    """The form field name of an input element inside a modal form."""
    return f"in:{block.get('block_id', '')}/{element.get('action_id', '')}"


@dataclass
class RenderContext:
    """Where blocks are shown and how their elements talk back to the sandbox."""

    directory: Directory = field(default_factory=Directory)
    users: Sequence[tuple[str, str]] = ()
    channels: Sequence[tuple[str, str]] = ()
    where: Where = "message"
    channel: str = ""
    ts: str = ""
    view_id: str = ""
    back: str = "/"
    form_id: str = ""  # set for a modal: input elements become fields of this form
    scope: str = ""  # which copy of a message (the channel's or the thread pane's): unique DOM ids
    state: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)

    # ----- text
    def text(self, obj: Any) -> Markup:
        return render_text(obj, self.directory)

    def mrkdwn(self, raw: str | None) -> Markup:
        return render_mrkdwn(raw, self.directory)

    def raw(self, obj: Any) -> str:
        return text_of(obj)

    # ----- modes
    def field_mode(self, block: Mapping[str, Any]) -> bool:
        """True when this block's element is a field of the modal's form."""
        return bool(self.form_id) and block.get("type") == "input"

    def dom_id(self, block: Mapping[str, Any], element: Mapping[str, Any]) -> str:
        seed = f"{self.scope}:{self.view_id or self.ts}:{block.get('block_id')}:{element.get('action_id')}"
        return "el-" + hashlib.sha1(seed.encode()).hexdigest()[:10]

    def name(self, block: Mapping[str, Any], element: Mapping[str, Any], multi: bool = False) -> str:
        if self.field_mode(block):
            return field_name(block, element)
        return "values" if multi else "value"

    def attrs(self, block: Mapping[str, Any]) -> Markup:
        """Extra attributes of a control: the modal form it belongs to, for modal fields."""
        if self.field_mode(block):
            return Markup(' form="{}"').format(self.form_id)
        return Markup("")

    def aria_label(self, block: Mapping[str, Any], label: str) -> Markup:
        """An accessible name for a control without a visible label (not for modal fields)."""
        return Markup("") if self.field_mode(block) else Markup('aria-label="{}"').format(label)

    def link(self, element: Mapping[str, Any]) -> str:
        """A URL button's link, if it is http(s)."""
        url = str(element.get("url") or "")
        return url if url.startswith(("https://", "http://")) else ""

    def autosubmit(self, element: Mapping[str, Any]) -> bool:
        return element.get("type") in AUTOSUBMIT

    def hidden(self, block: Mapping[str, Any], element: Mapping[str, Any]) -> Markup:
        """Hidden fields naming the element, for a standalone element form."""
        fields = {
            "where": self.where,
            "channel": self.channel,
            "ts": self.ts,
            "view_id": self.view_id,
            "block_id": str(block.get("block_id", "")),
            "action_id": str(element.get("action_id", "")),
            "back": self.back,
        }
        return Markup("").join(
            Markup('<input type="hidden" name="{}" value="{}">').format(k, v) for k, v in fields.items()
        )

    def confirm_attr(self, block: Mapping[str, Any], element: Mapping[str, Any]) -> Markup:
        """The form's link to its confirm dialog (`confirm_dialog`), and the dialog's texts."""
        confirm = element.get("confirm")
        if not isinstance(confirm, dict):
            return Markup("")
        data = {
            "title": text_of(confirm.get("title")),
            "text": text_of(confirm.get("text")),
            "confirm": text_of(confirm.get("confirm")) or "Yes",
            "deny": text_of(confirm.get("deny")) or "Cancel",
        }
        return Markup(' data-confirm="{}" data-confirm-dialog="{}"').format(
            json.dumps(data, ensure_ascii=False), self.confirm_id(block, element)
        )

    def confirm_id(self, block: Mapping[str, Any], element: Mapping[str, Any]) -> str:
        return "cf-" + self.dom_id(block, element).removeprefix("el-")

    def confirm_dialog(self, block: Mapping[str, Any], element: Mapping[str, Any]) -> dict[str, Any] | None:
        """A Block Kit `confirm` object as the page's confirm dialog shows it: the title, the text
        (mrkdwn or plain text), the confirm and deny labels, and the confirm button's style."""
        confirm = element.get("confirm")
        if not isinstance(confirm, dict):
            return None
        style = confirm.get("style")
        return {
            "id": self.confirm_id(block, element),
            "title": self.text(confirm.get("title")) if confirm.get("title") else Markup("Are you sure?"),
            "text": self.text(confirm.get("text")),
            "confirm": self.text(confirm.get("confirm")) if confirm.get("confirm") else Markup("Yes"),
            "deny": self.text(confirm.get("deny")) if confirm.get("deny") else Markup("Cancel"),
            "style": style if style in ("primary", "danger") else "primary",
        }

    # ----- values
    def current(self, block: Mapping[str, Any], element: Mapping[str, Any]) -> Any:
        """The element's value as shown: modal state first, else its initial value."""
        etype = str(element.get("type", ""))
        keys = STATE_KEYS.get(etype)
        if keys is None:
            return None
        state_key, initial_key = keys
        entry = self.state.get(str(block.get("block_id", "")), {}).get(str(element.get("action_id", "")))
        value = entry.get(state_key) if isinstance(entry, Mapping) else element.get(initial_key)
        if etype in MULTI_ELEMENTS and value is None:
            value = []
        return value

    def selected(self, block: Mapping[str, Any], element: Mapping[str, Any]) -> set[str]:
        """Values of the options (or users, channels) selected now."""
        value = self.current(block, element)
        if value is None:
            return set()
        items = value if isinstance(value, list) else [value]
        return {str(v.get("value")) if isinstance(v, dict) else str(v) for v in items}

    def date_time(self, block: Mapping[str, Any], element: Mapping[str, Any]) -> str:
        value = self.current(block, element)
        if value in (None, ""):
            return ""
        return datetime.fromtimestamp(int(value), UTC).strftime("%Y-%m-%dT%H:%M")

    def choices(self, element: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(value, label) pairs of a select: its options, the personas, or the channels."""
        etype = str(element.get("type", ""))
        if "users" in etype:
            return list(self.users)
        if "conversations" in etype or "channels" in etype:
            return list(self.channels)
        options = list(element.get("options") or [])
        for group in element.get("option_groups") or []:
            options.extend(group.get("options") or [])
        return [(str(o.get("value")), text_of(o.get("text"))) for o in options if isinstance(o, dict)]

    def error(self, block: Mapping[str, Any]) -> str:
        return self.errors.get(str(block.get("block_id", "")), "")


def render_blocks(blocks: Iterable[Any], ctx: RenderContext | None = None) -> Markup:
    """HTML for a list of Block Kit blocks (a message, a modal's or the Home tab's blocks)."""
    template = _env.get_template("_blocks.html")
    module = template.make_module({})
    return Markup(module.blocks([b for b in blocks if isinstance(b, dict)], ctx or RenderContext()))


def render_message(
    text: str | None, blocks: Iterable[Any] | None, ctx: RenderContext | None = None
) -> Markup:
    """A message as Slack shows it: its blocks, or its mrkdwn text when it has none."""
    ctx = ctx or RenderContext()
    listed = [b for b in blocks or [] if isinstance(b, dict)]
    if listed:
        return render_blocks(listed, ctx)
    return Markup('<div class="b-text">{}</div>').format(ctx.mrkdwn(text))


def _one(values: Sequence[str] | None) -> str | None:
    for v in values or []:
        if v != "":
            return v
    return None


def element_value(element: Mapping[str, Any], values: Sequence[str] | None) -> Any:
    """A form field's strings as the raw value the stand-in's driver takes for this element."""
    etype = str(element.get("type", ""))
    if etype in MULTI_ELEMENTS:
        return [v for v in values or [] if v != ""]
    one = _one(values)
    if etype == "datetimepicker" and one:
        return int(datetime.fromisoformat(one).replace(tzinfo=UTC).timestamp())
    if etype in TEXT_ELEMENTS and one is None:
        return None
    return one


def form_values(
    blocks: Iterable[Any], form: Mapping[str, Sequence[str]]
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """A modal form → (`{block_id: {action_id: value}}` for `submit_view`, errors of empty required inputs)."""
    values: dict[str, dict[str, Any]] = {}
    missing: dict[str, str] = {}
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") != "input":
            continue
        element = block.get("element") or {}
        if str(element.get("type")) not in STATE_KEYS:
            continue
        value = element_value(element, form.get(field_name(block, element)))
        block_id, action_id = str(block.get("block_id", "")), str(element.get("action_id", ""))
        values.setdefault(block_id, {})[action_id] = value
        if not block.get("optional") and value in (None, "", []):
            missing[block_id] = REQUIRED_MESSAGE
    return values, missing


def draft_state(blocks: Iterable[Any], values: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Typed values in the shape of view `state.values`, to show them again (e.g. after an error)."""
    state: dict[str, dict[str, Any]] = {}
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") != "input":
            continue
        element = block.get("element") or {}
        keys = STATE_KEYS.get(str(element.get("type")))
        block_id, action_id = str(block.get("block_id", "")), str(element.get("action_id", ""))
        if keys is None or action_id not in values.get(block_id, {}):
            continue
        raw = values[block_id][action_id]
        if element.get("type") in ("static_select", "radio_buttons", "external_select") and raw is not None:
            raw = {"value": raw}
        elif element.get("type") in ("checkboxes", "multi_static_select", "multi_external_select"):
            raw = [{"value": v} for v in raw or []]
        state.setdefault(block_id, {})[action_id] = {"type": element.get("type"), keys[0]: raw}
    return state
