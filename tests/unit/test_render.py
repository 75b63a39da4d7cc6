import json
from datetime import date

import pytest

from messages import Renderer, TemplateError, cut_mrkdwn, escape_mrkdwn
from messages.limits import fit_blocks


@pytest.fixture
def r():
    return Renderer()


def _ctx(name):
    return {
        "e": {
            "customer_name": name,
            "size": "medium",
            "size_weeks": "4–10 weeks",
            "kickoff_on": date(2026, 12, 1),
            "target_on": None,
            "golive": date(2027, 1, 29),
            "timezone": "Europe/Berlin",
            "country": "DE",
            "phase_number": 1,
            "phase_name": "Discovery",
        },
        "phases": [{"number": 1, "name": "Discovery", "start": date(2026, 12, 1), "end": date(2026, 12, 8)}],
        "lead": "U0LEAD",
        "lead_name": "Lena",
        "command": "/golive",
        "progress": {"done": 0, "total": 5},
    }


def test_user_text_cannot_ping_or_link(r):
    m = r.message("welcome.json.j2", **_ctx('<!channel> <@U999> <https://evil|x> "quoted" & co'))
    dumped = json.dumps(m.blocks) + m.text
    assert "<!channel>" not in dumped
    assert "<@U999>" not in dumped
    assert "<https://evil" not in dumped
    section = m.blocks[1]["text"]["text"]
    assert "&lt;!channel&gt; &lt;@U999&gt;" in section
    assert '"quoted" &amp; co' in section
    # Trusted mentions made by the `mention` filter still work.
    assert "<@U0LEAD>" in section


def test_plain_text_is_escaped_too(r):
    # Slack decodes the three entities for display in plain_text as in mrkdwn.
    m = r.message("welcome.json.j2", **_ctx("AT&T <Labs>"))
    assert m.blocks[0]["text"]["text"] == ":rocket: AT&amp;T &lt;Labs&gt; implementation kicked off"


def test_long_values_are_cut_with_an_ellipsis(r):
    m = r.message("welcome.json.j2", **_ctx("A" * 400))
    header = m.blocks[0]["text"]["text"]
    assert len(header) == 150 and header.endswith("…")


def test_cut_never_splits_an_entity_or_token():
    s = escape_mrkdwn("ab&cd")  # ab&amp;cd
    assert cut_mrkdwn(s, 5) == "ab…"
    assert cut_mrkdwn("hi <@U123ABC> there", 8) == "hi…"


def test_fit_blocks_trims_fields_and_buttons():
    blocks = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "x"},
            "fields": [{"type": "mrkdwn", "text": str(i)} for i in range(12)],
        },
        {
            "type": "actions",
            "elements": [
                {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "b" * 90}}
            ],
        },
    ]
    fit_blocks(blocks)
    assert len(blocks[0]["fields"]) == 10
    assert len(blocks[1]["elements"][0]["text"]["text"]) == 75


def test_override_directory_wins(tmp_path):
    (tmp_path / "notice.json.j2").write_text('{"text": "custom: {{ text }}", "blocks": []}')
    m = Renderer(tmp_path).message("notice.json.j2", text="<hi>", hint=None)
    assert m.text == "custom: &lt;hi&gt;"


def test_broken_override_is_reported_with_the_template_name(tmp_path):
    (tmp_path / "notice.json.j2").write_text('{"text": "x", "blocks": [}')
    with pytest.raises(TemplateError, match=r"notice\.json\.j2"):
        Renderer(tmp_path).message("notice.json.j2", text="a", hint=None)
