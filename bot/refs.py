"""Item references as people type them: `2.3` is item 3 of phase 2."""

from __future__ import annotations

import re

from bot.errors import UserError

_REF = re.compile(r"^(\d{1,2})\.(\d{1,3})$")


def parse_ref(raw: str) -> tuple[int, int]:
    m = _REF.match(raw.strip())
    if not m:
        raise UserError(
            f"`{raw[:20]}` is not an item reference; use phase.item as shown in the checklist, e.g. 2.3."
        )
    return int(m.group(1)), int(m.group(2))
