"""Rendering: Jinja2 templates to Block Kit and fallback text, with escaping and limits."""

from messages.escape import cut, cut_mrkdwn, escape_mrkdwn
from messages.render import Message, Renderer, TemplateError

__all__ = ["Message", "Renderer", "TemplateError", "cut", "cut_mrkdwn", "escape_mrkdwn"]
