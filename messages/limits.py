"""Fitting rendered Block Kit into Slack's limits: text is cut with an ellipsis, never refused.

This runs on every rendered message and view, after the template, so a long customer name or
item title can never make Slack answer `invalid_blocks`.
"""

from __future__ import annotations

from typing import Any

from messages.escape import cut_mrkdwn

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_FALLBACK_TEXT = 3_900

# (block type, field) -> limit
TEXT_LIMITS = {
    "header": 150,
    "section": 3_000,
    "section_field": 2_000,
    "context_text": 2_000,
    "button": 75,
    "option": 75,
    "option_description": 75,
    "placeholder": 150,
    "label": 2_000,
    "hint": 2_000,
    "confirm_title": 100,
    "confirm_text": 300,
    "confirm_button": 30,
    "view_title": 24,
    "view_button": 24,
}


def _fit_text(obj: dict[str, Any] | None, limit: int) -> None:
    if not isinstance(obj, dict) or "text" not in obj:
        return
    # Slack decodes &amp; &lt; &gt; for display in plain_text and mrkdwn alike, so both
    # stay escaped; the cut must not split an entity in either.
    obj["text"] = cut_mrkdwn(obj["text"], limit)


def _fit_confirm(confirm: dict[str, Any] | None) -> None:
    if not confirm:
        return
    _fit_text(confirm.get("title"), TEXT_LIMITS["confirm_title"])
    _fit_text(confirm.get("text"), TEXT_LIMITS["confirm_text"])
    _fit_text(confirm.get("confirm"), TEXT_LIMITS["confirm_button"])
    _fit_text(confirm.get("deny"), TEXT_LIMITS["confirm_button"])


def _fit_option(option: dict[str, Any]) -> None:
    _fit_text(option.get("text"), TEXT_LIMITS["option"])
    _fit_text(option.get("description"), TEXT_LIMITS["option_description"])


def _fit_element(el: dict[str, Any]) -> None:
    kind = el.get("type")
    if kind == "button":
        _fit_text(el.get("text"), TEXT_LIMITS["button"])
    for option in el.get("options", []) or []:
        _fit_option(option)
    for group in el.get("option_groups", []) or []:
        _fit_text(group.get("label"), TEXT_LIMITS["option"])
        for option in group.get("options", []) or []:
            _fit_option(option)
    for option in el.get("initial_options", []) or []:
        _fit_option(option)
    if el.get("initial_option"):
        _fit_option(el["initial_option"])
    _fit_text(el.get("placeholder"), TEXT_LIMITS["placeholder"])
    _fit_confirm(el.get("confirm"))
    if kind in ("image",):
        return


def fit_blocks(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cut every text in place to its Block Kit limit; returns the same list."""
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            _fit_text(block.get("text"), TEXT_LIMITS["header"])
        elif kind == "section":
            _fit_text(block.get("text"), TEXT_LIMITS["section"])
            fields = block.get("fields")
            if fields:
                del fields[10:]
                for f in fields:
                    _fit_text(f, TEXT_LIMITS["section_field"])
            if block.get("accessory"):
                _fit_element(block["accessory"])
        elif kind == "context":
            elements = block.get("elements", [])
            del elements[10:]
            for el in elements:
                if el.get("type") in ("mrkdwn", "plain_text"):
                    _fit_text(el, TEXT_LIMITS["context_text"])
        elif kind == "actions":
            for el in block.get("elements", []):
                _fit_element(el)
        elif kind == "input":
            _fit_text(block.get("label"), TEXT_LIMITS["label"])
            _fit_text(block.get("hint"), TEXT_LIMITS["hint"])
            if block.get("element"):
                _fit_element(block["element"])
    return blocks


def fit_fallback(text: str) -> str:
    return cut_mrkdwn(text, MAX_FALLBACK_TEXT)


def fit_view(view: dict[str, Any]) -> dict[str, Any]:
    _fit_text(view.get("title"), TEXT_LIMITS["view_title"])
    _fit_text(view.get("submit"), TEXT_LIMITS["view_button"])
    _fit_text(view.get("close"), TEXT_LIMITS["view_button"])
    fit_blocks(view.get("blocks", []))
    return view
