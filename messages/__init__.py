"""Rendering: Jinja2 templates to Block Kit and fallback text, with escaping and limits."""

from messages.escape import Mention, Trusted, cut, cut_mrkdwn, escape_mrkdwn, fmt
from messages.render import Message, Renderer, TemplateError

__all__ = [
    "Mention",
    "Message",
    "Renderer",
    "TemplateError",
    "Trusted",
    "cut",
    "cut_mrkdwn",
    "escape_mrkdwn",
    "fmt",
]
