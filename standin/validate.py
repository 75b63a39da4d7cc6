"""Block Kit validation: slack_sdk's model checks plus the limits slack_sdk leaves out.

Every error is a string ``"<reason> [json-pointer:/blocks/3/elements/0]"`` in the style of Slack's
``invalid_blocks`` answers. An empty list means valid.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_VIEW_BYTES = 250_000
MAX_UPDATE_TEXT = 4000
MAX_MESSAGE_BLOCKS_TEXT = 12_000  # msg_blocks_too_long: Slack staff quote 12,000 text characters
MAX_CHOICE_OPTIONS = 10  # checkboxes, radio_buttons
MAX_OPTION_TEXT = 75
MAX_OPTION_DESCRIPTION = 75
MAX_TEXT_INPUT_LENGTH = 3000  # plain_text_input min_length 0..3000, max_length 1..3000
MAX_OPTION_VALUE = 150
MAX_SECTION_FIELD = 2000
MAX_ID = 255

ELEMENT_TYPES = frozenset(
    {
        "button",
        "checkboxes",
        "datepicker",
        "datetimepicker",
        "email_text_input",
        "external_select",
        "file_input",
        "image",
        "multi_channels_select",
        "multi_conversations_select",
        "multi_external_select",
        "multi_static_select",
        "multi_users_select",
        "number_input",
        "overflow",
        "plain_text_input",
        "radio_buttons",
        "rich_text_input",
        "static_select",
        "timepicker",
        "url_text_input",
        "users_select",
        "conversations_select",
        "channels_select",
        "workflow_button",
        "feedback_buttons",
        "icon_button",
    }
)
CONTEXT_ELEMENT_TYPES = frozenset({"image", "mrkdwn", "plain_text"})
# Option text may be mrkdwn only in checkboxes and radio buttons; overflow and select menus take
# plain_text (Slack's option object reference).
_CHOICE_ELEMENTS = frozenset({"checkboxes", "radio_buttons"})
# Elements whose initial option(s) must exactly match one of their own options.
_MATCHED_INITIAL = frozenset({"checkboxes", "radio_buttons", "static_select", "multi_static_select"})
_SDK_ERRORS = (SlackObjectFormationError, TypeError, ValueError, AttributeError, KeyError)


class BlockKitError(ValueError):
    """Raised when blocks or a view break Block Kit rules; ``errors`` lists every problem."""

    def __init__(self, errors: Iterable[str]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(self.errors) or "invalid Block Kit payload")


def _err(errors: list[str], reason: str, pointer: str) -> None:
    errors.append(f"{reason} [json-pointer:{pointer}]")


def _check_text(
    obj: Any, ptr: str, errors: list[str], *, types: tuple[str, ...], max_len: int | None = None
) -> None:
    """A composition text object: a dict with an allowed ``type`` and a non-empty ``text``."""
    if not isinstance(obj, dict):
        _err(errors, "must be a text object", ptr)
        return
    if obj.get("type") not in types:
        _err(errors, f"text object type must be one of {', '.join(types)}", ptr + "/type")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        _err(errors, "must be more than 0 characters", ptr + "/text")
    elif max_len is not None and len(text) > max_len:
        _err(errors, f"must be less than {max_len + 1} characters", ptr + "/text")


def _check_option(opt: Any, ptr: str, errors: list[str], *, mrkdwn_ok: bool) -> None:
    if not isinstance(opt, dict):
        _err(errors, "must be an object", ptr)
        return
    types = ("plain_text", "mrkdwn") if mrkdwn_ok else ("plain_text",)
    _check_text(opt.get("text"), ptr + "/text", errors, types=types, max_len=MAX_OPTION_TEXT)
    value = opt.get("value")
    if isinstance(value, str) and len(value) > MAX_OPTION_VALUE:
        _err(errors, f"must be less than {MAX_OPTION_VALUE + 1} characters", ptr + "/value")
    if "description" in opt:
        _check_text(
            opt["description"], ptr + "/description", errors, types=types, max_len=MAX_OPTION_DESCRIPTION
        )


def _check_options(options: Any, ptr: str, errors: list[str], *, mrkdwn_ok: bool) -> None:
    if not isinstance(options, list):
        _err(errors, "must be an array", ptr)
        return
    for i, opt in enumerate(options):
        _check_option(opt, f"{ptr}/{i}", errors, mrkdwn_ok=mrkdwn_ok)


def _norm_text(obj: Any) -> Any:
    """A text object as Slack compares it: plain_text's ``emoji`` defaults to true."""
    if not isinstance(obj, dict):
        return obj
    norm = dict(obj)
    if norm.get("type") == "plain_text":
        norm["emoji"] = bool(norm.get("emoji", True))
    elif norm.get("type") == "mrkdwn":
        norm["verbatim"] = bool(norm.get("verbatim", False))
    return norm


def _norm_option(opt: Any) -> Any:
    if not isinstance(opt, dict):
        return opt
    return {k: (_norm_text(v) if k in ("text", "description") else v) for k, v in opt.items()}


def _all_options(el: dict[str, Any]) -> list[Any]:
    found = list(el.get("options") or []) if isinstance(el.get("options"), list) else []
    for group in el.get("option_groups") or []:
        if isinstance(group, dict) and isinstance(group.get("options"), list):
            found.extend(group["options"])
    return found


def _check_initial_options(el: dict[str, Any], ptr: str, errors: list[str], *, mrkdwn_ok: bool) -> None:
    """``initial_option(s)``: valid options that, where the element lists its options, exactly match one."""
    etype = el.get("type")
    chosen: list[tuple[str, Any]] = []
    if "initial_options" in el:
        initial = el["initial_options"]
        if not isinstance(initial, list):
            _err(errors, "must be an array", ptr + "/initial_options")
        else:
            chosen = [(f"{ptr}/initial_options/{i}", o) for i, o in enumerate(initial)]
    if "initial_option" in el:
        chosen.append((ptr + "/initial_option", el["initial_option"]))
    if not chosen:
        return
    known = [_norm_option(o) for o in _all_options(el)]
    for optr, opt in chosen:
        before = len(errors)
        _check_option(opt, optr, errors, mrkdwn_ok=mrkdwn_ok)
        if len(errors) == before and etype in _MATCHED_INITIAL and _norm_option(opt) not in known:
            _err(errors, "must exactly match one of the element's options", optr)


def _check_text_input(el: dict[str, Any], ptr: str, errors: list[str]) -> None:
    for key, lowest in (("min_length", 0), ("max_length", 1)):
        if key not in el:
            continue
        value = el[key]
        if isinstance(value, bool) or not isinstance(value, int):
            _err(errors, f"{key} must be an integer", f"{ptr}/{key}")
        elif not lowest <= value <= MAX_TEXT_INPUT_LENGTH:
            _err(errors, f"{key} must be between {lowest} and {MAX_TEXT_INPUT_LENGTH}", f"{ptr}/{key}")


def _check_element(
    el: Any, ptr: str, errors: list[str], action_ids: set[str], *, context: bool = False
) -> None:
    if not isinstance(el, dict):
        _err(errors, "must be an object", ptr)
        return
    etype = el.get("type")
    allowed = CONTEXT_ELEMENT_TYPES if context else ELEMENT_TYPES
    if etype not in allowed:
        _err(errors, f"unsupported element type {etype!r}", ptr + "/type")
        return
    if context:
        if etype in ("mrkdwn", "plain_text"):
            _check_text(el, ptr, errors, types=("mrkdwn", "plain_text"))
        return
    action_id = el.get("action_id")
    if action_id is not None:
        if not isinstance(action_id, str) or not action_id:
            _err(errors, "action_id must be a non-empty string", ptr + "/action_id")
        elif action_id in action_ids:
            _err(errors, f"action_id {action_id!r} is already used in this block", ptr + "/action_id")
        else:
            action_ids.add(action_id)
    if etype == "button":
        _check_text(el.get("text"), ptr + "/text", errors, types=("plain_text",))
    mrkdwn_ok = etype in _CHOICE_ELEMENTS
    if "options" in el:
        options = el["options"]
        if etype in _CHOICE_ELEMENTS and isinstance(options, list) and len(options) > MAX_CHOICE_OPTIONS:
            _err(
                errors,
                f"must provide at most {MAX_CHOICE_OPTIONS} items (got {len(options)})",
                ptr + "/options",
            )
        _check_options(options, ptr + "/options", errors, mrkdwn_ok=mrkdwn_ok)
    for g, group in enumerate(el.get("option_groups") or []):
        if isinstance(group, dict):
            _check_options(
                group.get("options"), f"{ptr}/option_groups/{g}/options", errors, mrkdwn_ok=mrkdwn_ok
            )
    _check_initial_options(el, ptr, errors, mrkdwn_ok=mrkdwn_ok)
    if etype == "plain_text_input":
        _check_text_input(el, ptr, errors)
    if isinstance(el.get("confirm"), dict):
        _check_confirm(el["confirm"], ptr + "/confirm", errors)


# Confirmation dialog object: title, text, confirm and deny are each "a plain_text text object"
# (docs.slack.dev/reference/block-kit/composition-objects/confirmation-dialog-object); a client
# shows mrkdwn there as typed, asterisks and all.
# slack_sdk checks their lengths, not their type.
def _check_confirm(confirm: dict[str, Any], ptr: str, errors: list[str]) -> None:
    for field in ("title", "text", "confirm", "deny"):
        if field in confirm:
            _check_text(confirm[field], f"{ptr}/{field}", errors, types=("plain_text",))


def _check_block(block: Any, ptr: str, errors: list[str], block_ids: set[str]) -> None:
    if not isinstance(block, dict):
        _err(errors, "must be an object", ptr)
        return
    btype = block.get("type")
    try:
        parsed = Block.parse(copy.deepcopy(block))
        if parsed is None:
            _err(errors, f"unknown block type {btype!r}", ptr + "/type")
            return
        parsed.to_dict()
    except _SDK_ERRORS as exc:
        reason = str(exc) if isinstance(exc, SlackObjectFormationError) else f"malformed {btype} block: {exc}"
        _err(errors, reason, ptr)
        return

    block_id = block.get("block_id")
    if block_id is not None:
        if not isinstance(block_id, str) or not block_id:
            _err(errors, "block_id must be a non-empty string", ptr + "/block_id")
        elif block_id in block_ids:
            _err(errors, f"block_id {block_id!r} is not unique", ptr + "/block_id")
        else:
            block_ids.add(block_id)

    action_ids: set[str] = set()
    if btype == "section":
        if "text" in block:
            _check_text(block["text"], ptr + "/text", errors, types=("plain_text", "mrkdwn"))
        for i, field in enumerate(block.get("fields") or []):
            _check_text(
                field, f"{ptr}/fields/{i}", errors, types=("plain_text", "mrkdwn"), max_len=MAX_SECTION_FIELD
            )
        if "accessory" in block:
            _check_element(block["accessory"], ptr + "/accessory", errors, action_ids)
    elif btype == "header":
        _check_text(block.get("text"), ptr + "/text", errors, types=("plain_text",))
    elif btype == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            _err(errors, "must provide at least 1 element", ptr + "/elements")
        for i, el in enumerate(elements or []):
            _check_element(el, f"{ptr}/elements/{i}", errors, action_ids)
    elif btype == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            _err(errors, "must provide at least 1 element", ptr + "/elements")
        for i, el in enumerate(elements or []):
            _check_element(el, f"{ptr}/elements/{i}", errors, action_ids, context=True)
    elif btype == "input":
        _check_text(block.get("label"), ptr + "/label", errors, types=("plain_text",))
        _check_element(block.get("element"), ptr + "/element", errors, action_ids)


def _check_blocks(blocks: Any, ptr: str, max_blocks: int, errors: list[str]) -> None:
    if not isinstance(blocks, list):
        _err(errors, "must be an array of blocks", ptr)
        return
    if len(blocks) > max_blocks:
        _err(errors, f"must provide at most {max_blocks} items (got {len(blocks)})", ptr)
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        _check_block(block, f"{ptr}/{i}", errors, block_ids)


def validate_message_blocks(blocks: Any) -> list[str]:
    """Problems with a message's ``blocks`` (at most 50 blocks; block_ids unique in the message)."""
    errors: list[str] = []
    _check_blocks(blocks, "/blocks", MAX_MESSAGE_BLOCKS, errors)
    return errors


def blocks_text_length(value: Any) -> int:
    """Total length of every string under a ``text`` key (what ``msg_blocks_too_long`` counts)."""
    if isinstance(value, list):
        return sum(blocks_text_length(v) for v in value)
    if isinstance(value, dict):
        total = 0
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                total += len(item)
            else:
                total += blocks_text_length(item)
        return total
    return 0


def view_size(view: Any) -> int:
    """Serialized size of a view in bytes."""
    return len(json.dumps(view, ensure_ascii=False).encode("utf-8"))


def validate_view(view: Any) -> list[str]:
    """Problems with a modal or home view (slack_sdk's ``View`` checks, 100 blocks, 250 kB, ids)."""
    errors: list[str] = []
    if not isinstance(view, dict):
        return ["must be a view object [json-pointer:/view]"]
    blocks = view.get("blocks")
    placeholder = dict(view)
    if isinstance(blocks, list):
        # Blocks are checked one by one below; the model only needs their count.
        placeholder["blocks"] = [{"type": "divider"}] * len(blocks)
    try:
        View(**placeholder).to_dict()
    except _SDK_ERRORS as exc:
        _err(errors, str(exc), "/view")
    if view.get("type") == "modal":
        title = view.get("title")
        if title is None:
            _err(errors, "a modal requires a title", "/view/title")
        elif isinstance(title, dict) and title.get("type") != "plain_text":
            _err(errors, "title must be a plain_text object", "/view/title/type")
        has_input = isinstance(blocks, list) and any(
            isinstance(b, dict) and b.get("type") == "input" for b in blocks
        )
        if has_input and not view.get("submit"):
            # Slack's modal view reference: submit is required when an input block is in blocks.
            _err(errors, "must define submit to use an input block in modals", "/view/submit")
    if blocks is None:
        _err(errors, "blocks are required", "/view/blocks")
    else:
        _check_blocks(blocks, "/view/blocks", MAX_VIEW_BLOCKS, errors)
    size = view_size(view)
    if size > MAX_VIEW_BYTES:
        _err(errors, f"view is {size} bytes, more than {MAX_VIEW_BYTES}", "/view")
    return errors


def assert_valid_message_blocks(blocks: Any) -> None:
    """Raise :class:`BlockKitError` unless ``blocks`` are valid message blocks."""
    errors = validate_message_blocks(blocks)
    if errors:
        raise BlockKitError(errors)


def assert_valid_view(view: Any) -> None:
    """Raise :class:`BlockKitError` unless ``view`` is a valid view."""
    errors = validate_view(view)
    if errors:
        raise BlockKitError(errors)
