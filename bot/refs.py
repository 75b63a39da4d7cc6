"""Item references and other numbers people type or Slack sends back to us.

`2.3` is item 3 of phase 2. Numbers are read from ASCII digits only and bounded before they
reach the database, so a typed `99999999999999999999` gets an answer naming what is allowed
(and never an overflow in the database driver).
"""

from __future__ import annotations

import re

from bot.errors import UserError

MAX_PHASES = 99  # a playbook has a handful; a reference has at most two digits
MAX_ID = 2**31 - 1  # database ids are 32-bit integers on PostgreSQL
_REF = re.compile(r"^([0-9]{1,2})\.([0-9]{1,3})$")
_DIGITS = re.compile(r"^[0-9]{1,10}$")


def parse_ref(raw: str) -> tuple[int, int]:
    m = _REF.match(raw.strip())
    if not m:
        raise UserError(
            f"`{_shown(raw)}` is not an item reference; use phase.item as shown in the checklist, e.g. 2.3."
        )
    return int(m.group(1)), int(m.group(2))


def parse_phase_number(raw: str) -> int:
    """A phase number as typed (`checklist 2`, `add 2 …`): 1 to MAX_PHASES."""
    value = raw.strip()
    if re.fullmatch(r"[0-9]+", value) is None:
        raise UserError(f"`{_shown(value)}` is not a phase number; phases are numbered from 1, e.g. 2.")
    digits = value.lstrip("0")
    if not digits or len(digits) > len(str(MAX_PHASES)):
        raise UserError(
            f"There is no phase {_shown(value)}; phases are numbered from 1 (`status` shows them)."
        )
    return int(digits)


def parse_id(raw: object) -> int:
    """A database id that came back in a button value, a menu option or a form's metadata.
    Slack sends back what we put there, so anything else is a stale or forged message."""
    value = str(raw if raw is not None else "").strip()
    if _DIGITS.match(value) is None or not 0 < int(value) <= MAX_ID:
        raise UserError("That button or form is out of date; run the command again for a fresh one.")
    return int(value)


def parse_choice(raw: object) -> tuple[str, int]:
    """An overflow option's value `verb:id`, e.g. ("assign", 12)."""
    verb, _, number = str(raw or "").partition(":")
    return verb, parse_id(number)


def _shown(raw: str) -> str:
    raw = raw.strip()
    return raw[:20] + ("…" if len(raw) > 20 else "")
