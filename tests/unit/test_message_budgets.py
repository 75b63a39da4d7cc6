"""The messages that list many things stay within Slack's limits in their worst case.

Slack refuses a message over 50 blocks or about 12,000 characters of text (msg_blocks_too_long);
the stand-in refuses over 12,000, and the bot keeps to an 11,000-character budget.
"""

from __future__ import annotations

from bot.reminders.nudges import MAX_ENTRIES, Entry
from bot.slack.publish import TEXT_BUDGET
from messages import Renderer
from standin.validate import blocks_text_length, validate_message_blocks

LONG_TITLE = ("Reconcile every legacy invoice line for the multi-year contracts " * 4)[:200]
LONG_REASON = ("Waiting for the customer's auditors to sign off the revenue recognition rules " * 7)[:500]
CONTRIBUTORS = [f"U0CONTRIB{i:02d}" for i in range(10)]


def test_a_full_nudge_after_everyone_acted_stays_within_budget() -> None:
    entries = []
    for i in range(MAX_ENTRIES):
        entry = Entry(
            kind="item",
            id=i + 1,
            ref=f"3.{i + 1}",
            title=LONG_TITLE,
            detail="due Mon 30 Nov · 12 days overdue · reminder 4",
            mentions=list(CONTRIBUTORS),
            nudges_before=3,
        ).as_dict()
        # half were reported blocked with the longest reason the form takes, half are still open
        entry["state"], entry["note"] = ("blocked", f"blocked: {LONG_REASON}") if i % 2 else ("open", "")
        entries.append(entry)
    message = Renderer().message(
        "nudge.json.j2",
        customer_name="A" * 120,
        entries=entries,
        pinged=list(CONTRIBUTORS),
        names={u: "N" * 200 for u in CONTRIBUTORS},
        direct=False,
        channel="C0ACME",
        command="/golive",
    )
    assert validate_message_blocks(message.blocks) == []
    assert len(message.blocks) <= 50
    assert blocks_text_length(message.blocks) <= TEXT_BUDGET
