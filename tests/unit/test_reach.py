"""bot.slack.reach.without_controls: what a private answer keeps when it has to go to another
engagement's channel (where a button would act on that channel's engagement)."""

from __future__ import annotations

from bot.slack.reach import without_controls
from messages import Message


def test_controls_are_dropped_and_the_words_kept() -> None:
    button = {"type": "button", "action_id": "signoff_pick:3", "text": {"type": "plain_text", "text": "Pick"}}
    image = {"type": "image", "image_url": "https://example.com/a.png", "alt_text": "chart"}
    message = Message(
        text="Which sign-off?",
        blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": "Which sign-off?"}, "accessory": button},
            {"type": "actions", "elements": [button]},
            {
                "type": "input",
                "label": {"type": "plain_text", "text": "x"},
                "element": {"type": "plain_text_input"},
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": "A chart"}, "accessory": image},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "note"}]},
        ],
    )
    kept = without_controls(message)
    assert kept.text == "Which sign-off?"
    assert [b["type"] for b in kept.blocks] == ["section", "section", "context"]
    assert "accessory" not in kept.blocks[0] and kept.blocks[1]["accessory"] == image
    assert "accessory" in message.blocks[0]  # the original is left as it was
