"""The bot's views as one persona sees them: the top modal of their stack (with its validation
errors and what they typed) and the Home tab the bot published for them."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from .blocks import render_blocks
from .reader import directory, reader_tz, render_context
from .session import Sandbox


def modal(sandbox: Sandbox, user: str) -> dict[str, Any] | None:
    """The persona's top open modal, rendered, with its validation errors and typed values."""
    view = sandbox.open_modal(user)
    if view is None:
        return None
    dirs = directory(sandbox, reader_tz(sandbox, user))
    state = dict(view.get("state", {}).get("values") or {})
    state.update(sandbox.view_draft(view["id"], view["hash"]))
    errors = sandbox.view_errors(view["id"], view["hash"])
    ctx = render_context(
        sandbox,
        dirs,
        where="view",
        view_id=view["id"],
        form_id=f"vf-{view['id']}",
        state=state,
        errors=errors,
    )
    return {
        "id": view["id"],
        "form_id": ctx.form_id,
        "title": ctx.text(view.get("title")),
        "submit": ctx.text(view.get("submit")) if view.get("submit") else None,
        "close": ctx.text(view.get("close")) if view.get("close") else Markup("Close"),
        "html": render_blocks(view.get("blocks") or [], ctx),
        "stacked": view["stack_depth"] > 1,
        "errors": errors,
    }


def home(sandbox: Sandbox, user: str) -> Markup | None:
    """The Home tab the bot published for the persona, rendered; None before it published one."""
    view = sandbox.home_view(user)
    if view is None:
        return None
    ctx = render_context(
        sandbox,
        directory(sandbox, reader_tz(sandbox, user)),
        where="view",
        view_id=view["id"],
        back="/?view=home",
    )
    return render_blocks(view.get("blocks") or [], ctx)
