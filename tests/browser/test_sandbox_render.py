"""The sandbox's rendering without a browser: mrkdwn → HTML, Block Kit → HTML, forms → Block Kit values."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from sandbox.blocks import (
    REQUIRED_MESSAGE,
    RenderContext,
    field_name,
    form_values,
    render_blocks,
    render_message,
)
from sandbox.harness import CHANNEL, CONTRIBUTOR
from sandbox.mrkdwn import Directory, render_mrkdwn, render_plain, render_text
from sandbox.session import next_monday_9, slack_command_text
from tests.browser.htmltools import Node, parse

DIRECTORY = Directory(
    users={"U0LEAD": "Lena Lead", "U0APPR": "Ada Approver"}, channels={"C0ACME": "acme-implementation"}
)
PEOPLE = [("U0LEAD", "Lena Lead (Vendor Inc)"), ("U0APPR", "Ada Approver (Acme Corp)")]


def md(text: str) -> str:
    return str(render_mrkdwn(text, DIRECTORY))


def shown(html: str) -> str:
    """What a browser shows for the HTML (text content)."""
    return parse(html).text


def plain(text: str, **kw) -> dict:
    return {"type": "plain_text", "text": text, **kw}


def mrkdwn(text: str) -> dict:
    return {"type": "mrkdwn", "text": text}


def option(text: str, value: str, description: str | None = None) -> dict:
    o = {"text": plain(text), "value": value}
    if description:
        o["description"] = plain(description)
    return o


def page(blocks: list[dict], **ctx) -> Node:
    ctx.setdefault("directory", DIRECTORY)
    ctx.setdefault("users", PEOPLE)
    return parse(render_blocks(blocks, RenderContext(**ctx)))


# ----- mrkdwn


def test_mrkdwn_formatting():
    html = md("*bold* _italic_ ~strike~ `code` and ```a *block*\nline 2```")
    assert "<b>bold</b>" in html and "<i>italic</i>" in html and "<s>strike</s>" in html
    assert "<code>code</code>" in html
    assert '<pre class="code-block">a *block*\nline 2</pre>' in html


def test_mrkdwn_leaves_markers_inside_words_and_code_alone():
    assert md("snake_case_name 2*3*4") == "snake_case_name 2*3*4"
    assert md("`*not bold*`") == "<code>*not bold*</code>"


def test_mrkdwn_newlines_become_line_breaks():
    assert md("one\ntwo") == "one<br>two"


def test_mrkdwn_links():
    node = parse(md("see <https://example.com/a?b=1&amp;c=2|the docs> or <https://x.test>"))
    links = node.find_all("a")
    assert [a.attrs["href"] for a in links] == ["https://example.com/a?b=1&c=2", "https://x.test"]
    assert [a.text for a in links] == ["the docs", "https://x.test"]


def test_mrkdwn_refuses_unsafe_links_and_attribute_injection():
    html = md("<javascript:alert(1)|click me>")
    assert "<a" not in html and shown(html) == "<javascript:alert(1)|click me>"
    node = parse(md('<https://x.test/" onmouseover="alert(1)|x>'))
    link = node.find("a")
    assert set(link.attrs) == {"href", "rel", "target"}
    assert link.attrs["href"] == 'https://x.test/" onmouseover="alert(1)'


def test_mrkdwn_mentions_use_the_directory():
    html = md(
        "<@U0LEAD> asks <@U0APPR>, <@U0NOPE> and <@U0X|ada> in <#C0ACME> or <#C0OTHER|general>; <!here>"
    )
    assert (
        shown(html)
        == "@Lena Lead asks @Ada Approver, @U0NOPE and @ada in #acme-implementation or #general; @here"
    )
    assert parse(html).find_all("span", cls="mention")[0].text == "@Lena Lead"


def test_mrkdwn_dates_show_their_fallback_when_the_readers_zone_is_not_known():
    assert shown(md("due <!date^1796000000^{date_short}|Fri 4 Dec>")) == "due Fri 4 Dec"


def test_mrkdwn_dates_are_shown_in_the_readers_time_zone():
    """`<!date>` is what the bot labels "your time": Slack shows it in each reader's zone."""
    token = (
        "<!date^1797411600^{date_long_pretty} {time}|2026-12-16 09:00 UTC> your time"  # Wed 16 Dec 09:00 UTC
    )
    berlin = render_mrkdwn(token, Directory(tz=ZoneInfo("Europe/Berlin")))
    tokyo = render_mrkdwn(token, Directory(tz=ZoneInfo("Asia/Tokyo")))
    assert shown(berlin) == "Wednesday, December 16th, 2026 10:00 your time"
    assert shown(tokyo) == "Wednesday, December 16th, 2026 18:00 your time"
    assert (
        shown(render_mrkdwn("<!date^1797411600^{date_num}|x>", Directory(tz=ZoneInfo("UTC")))) == "2026-12-16"
    )


def test_mrkdwn_pretty_dates_are_relative_to_the_sandbox_clock():
    """ "today" is the sandbox's day (its clock may be weeks from the machine's), in the reader's zone."""
    token = "<!date^1797411600^{date_short_pretty} {time}|x>"  # Wed 16 Dec 09:00 UTC
    berlin = ZoneInfo("Europe/Berlin")
    same_day = Directory(tz=berlin, now=datetime(2026, 12, 16, 20, 0, tzinfo=UTC))
    next_day = Directory(tz=berlin, now=datetime(2026, 12, 17, 8, 0, tzinfo=UTC))
    assert shown(render_mrkdwn(token, same_day)) == "today 10:00"
    assert shown(render_mrkdwn(token, next_day)) == "yesterday 10:00"


def test_mrkdwn_quotes_are_block_quotes_with_no_entity_shown():
    """A line starting with > is a quote, as in Slack; user text that starts with an escaped > stays text."""
    html = md("Changes requested:\n>Add the EMEA entity &amp; the &lt;Q1&gt; invoices\n&gt; not a quote")
    node = parse(html)
    [quote] = node.find_all("blockquote")
    assert quote.text == "Add the EMEA entity & the <Q1> invoices"
    assert shown(html).endswith("> not a quote") and "&gt;" not in shown(html)


def test_mrkdwn_emoji_known_and_unknown():
    html = md(":rocket: :white_check_mark: :large_green_circle: :not_an_emoji:")
    assert html == "🚀 ✅ 🟢 :not_an_emoji:"


def test_mrkdwn_decodes_slack_entities_after_escaping():
    assert shown(md("Testing &amp; Validation")) == "Testing & Validation"
    assert md("Testing &amp; Validation") == "Testing &amp; Validation"
    assert shown(md("a &lt;b&gt; c")) == "a <b> c"
    assert shown(md("literally &amp;lt;")) == "literally &lt;"


@pytest.mark.parametrize(
    "text",
    [
        "&lt;script&gt;alert(1)&lt;/script&gt;",  # escaped by the bot, as user text must be
        "<script>alert(1)</script>",  # even unescaped, it is a Slack token, never HTML
        "*&lt;img src=x onerror=alert(1)&gt;*",
    ],
)
def test_user_text_never_becomes_html(text):
    node = parse(md(text))
    assert not node.find_all("script") and not node.find_all("img")
    assert "alert(1)" in node.text


def test_plain_text_is_escaped_and_not_formatted():
    assert str(render_plain("*not bold* <b>x</b> :tada:")) == "*not bold* &lt;b&gt;x&lt;/b&gt; 🎉"
    assert str(render_text(plain(":tada:", emoji=False))) == ":tada:"
    assert str(render_text(mrkdwn("*b*"))) == "<b>b</b>"


# ----- Block Kit


def test_header_section_fields_context_divider():
    node = page(
        [
            {"type": "header", "text": plain(":rocket: Kicked off")},
            {
                "type": "section",
                "text": mrkdwn("Hello <@U0LEAD>"),
                "fields": [mrkdwn("*Kickoff*\nMon"), mrkdwn("*Size*\nMedium")],
            },
            {"type": "divider"},
            {"type": "context", "elements": [mrkdwn("`▓░ 50%` done"), plain("plain")]},
            {"type": "mystery"},
        ]
    )
    assert node.find(cls="b-header").text == "🚀 Kicked off"
    assert node.find(cls="b-text").text == "Hello @Lena Lead"
    assert [f.text for f in node.find_all(cls="b-field")] == ["Kickoff Mon", "Size Medium"]
    assert node.has("hr", cls="b-divider")
    assert [c.text for c in node.find_all(cls="b-context-item")] == ["▓░ 50% done", "plain"]
    assert node.find(cls="b-unknown").text == "[mystery block]"


def el(etype: str, action_id: str, **kw) -> dict:
    return {"type": etype, "action_id": action_id, **kw}


def actions(block_id: str, *elements: dict) -> dict:
    return {"type": "actions", "block_id": block_id, "elements": list(elements)}


def field(block_id: str, label: str, element: dict, **kw) -> dict:
    return {"type": "input", "block_id": block_id, "label": plain(label), "element": element, **kw}


def test_buttons_styles_and_confirm_in_a_message():
    texts = {"title": "Sure?", "text": "It is recorded.", "confirm": "Approve", "deny": "Not yet"}
    confirm = {k: plain(v) for k, v in texts.items()}
    accessory = el("button", "acc", text=plain("Details"))
    node = page(
        [
            {"type": "section", "block_id": "s", "text": mrkdwn("Sign-off"), "accessory": accessory},
            actions(
                "a",
                el("button", "ok", text=plain("Approve"), style="primary", value="1", confirm=confirm),
                el("button", "no", text=plain("Request changes"), style="danger"),
            ),
        ],
        channel="C0ACME",
        ts="1.000100",
    )
    forms = node.find_all("form", cls="el-button")
    assert [f.form_fields()["action_id"] for f in forms] == ["acc", "ok", "no"]
    assert forms[1].form_fields() == dict(
        where="message", channel="C0ACME", ts="1.000100", view_id="", block_id="a", action_id="ok", back="/"
    )
    classes = [b.attrs["class"] for f in forms for b in f.find_all("button")]
    assert classes == ["btn btn-default", "btn btn-primary", "btn btn-danger"]
    assert json.loads(forms[1].attrs["data-confirm"]) == texts
    assert "data-confirm" not in forms[2].attrs and "data-confirm-dialog" not in forms[2].attrs
    assert node.find(cls="b-accessory").find("button").text == "Details"

    # The confirm is the page's own modal dialog, named by the form, closed until the click.
    dialog = node.find("dialog", id=forms[1].attrs["data-confirm-dialog"])
    assert "open" not in dialog.attrs
    assert dialog.attrs["role"] == "dialog" and dialog.attrs["aria-modal"] == "true"
    assert node.find(id=dialog.attrs["aria-labelledby"]).text == "Sure?"
    assert node.find(id=dialog.attrs["aria-describedby"]).text == "It is recorded."
    buttons = dialog.find_all("button")
    assert [(b.text, b.attrs["value"], b.attrs["class"]) for b in buttons] == [
        ("Not yet", "deny", "btn btn-default confirm-deny"),
        ("Approve", "confirm", "btn btn-primary confirm-ok"),
    ]
    assert dialog.find("form").attrs["method"] == "dialog", (
        "its buttons close it; only the page's script sends"
    )
    assert len(node.find_all("dialog")) == 1, "no dialog for buttons without a confirm"


def test_confirm_dialogs_show_mrkdwn_escaped_a_danger_style_and_stay_unique_per_copy():
    confirm = {
        "title": plain("Cancel <everything>?"),
        "text": mrkdwn("This *cannot* be undone. <script>x</script>"),
        "confirm": plain("Cancel it"),
        "deny": plain("Keep it"),
        "style": "danger",
    }
    blocks = [
        actions("a", el("button", "go", text=plain("Cancel"), confirm=confirm)),
        actions("o", el("overflow", "menu", options=[option("Remove", "rm")], confirm=confirm)),
    ]
    html = render_blocks(blocks, RenderContext(directory=DIRECTORY, channel="C0ACME", ts="1.000100"))
    assert "<script>" not in html
    node = parse(html)
    first, menu = node.find_all("dialog", cls="confirm")
    assert first.find(cls="confirm-title").text == "Cancel <everything>?"
    assert first.find(cls="confirm-text").find("b").text == "cannot"
    assert first.find(cls="confirm-ok").attrs["class"] == "btn btn-danger confirm-ok"
    assert node.find("form", cls="menu").attrs["data-confirm-dialog"] == menu.attrs["id"]
    assert not node.find("details").find_all("dialog"), "outside the menu, which closes on a click"

    # The same message drawn in the channel and in the thread pane: no id twice.
    def ids(scope: str) -> set[str]:
        ctx = RenderContext(directory=DIRECTORY, channel="C0ACME", ts="1.000100", scope=scope)
        return {n.attrs["id"] for n in parse(render_blocks(blocks, ctx)).iter() if "id" in n.attrs}

    assert ids("m-1.000100") and not ids("m-1.000100") & ids("t-1.000100")


def test_checkboxes_show_initial_options_checked_with_descriptions():
    a, b = option("*1.1* Pricing", "1", "Vendor · due Fri"), option("*1.5* Setup", "5", "Done by Cody")
    node = page([actions("item", el("checkboxes", "tick", options=[a, b], initial_options=[b]))])
    form = node.find("form", cls="el-checkboxes")
    assert "data-autosubmit" in form.attrs
    boxes = form.find_all("input", type="checkbox")
    assert [(x.attrs["value"], "checked" in x.attrs) for x in boxes] == [("1", False), ("5", True)]
    assert [c.text for c in form.find_all(cls="choice-desc")] == ["Vendor · due Fri", "Done by Cody"]
    assert form.find_all(cls="choice-label")[0].text == "*1.1* Pricing"  # plain_text stays plain


def test_overflow_menu_options_are_buttons():
    menu_options = [option("Assign…", "assign:1"), option("Details", "details:1")]
    node = page([actions("item:1", el("overflow", "menu", options=menu_options))])
    menu = node.find("details", cls="el-overflow")
    assert menu.find("summary").attrs["aria-label"] == "More actions"
    items = [(b.attrs["value"], b.text) for b in menu.find_all("button")]
    assert items == [("assign:1", "Assign…"), ("details:1", "Details")]
    assert menu.find("form").form_fields()["action_id"] == "menu"


def test_selects_pickers_and_radios_in_a_message():
    sizes = [option("Small", "small"), option("Medium", "medium")]
    owners = [option("Customer", "customer"), option("Vendor", "vendor")]
    node = page(
        [
            actions(
                "x",
                el("datepicker", "due", initial_date="2026-12-04"),
                el("users_select", "who", initial_user="U0APPR", placeholder=plain("Assign to")),
                el("static_select", "size", options=sizes, initial_option=sizes[1]),
                el("radio_buttons", "owner", options=owners, initial_option=owners[1]),
            )
        ]
    )
    assert node.find("input", type="date").attrs["value"] == "2026-12-04"
    users = node.find("select", name="value", aria_label="Assign to")
    assert [(o.attrs["value"], o.text, "selected" in o.attrs) for o in users.find_all("option")] == [
        ("", "Assign to", False),
        ("U0LEAD", "Lena Lead (Vendor Inc)", False),
        ("U0APPR", "Ada Approver (Acme Corp)", True),
    ]
    size = node.find_all("select")[1]
    assert [o.attrs["value"] for o in size.find_all("option") if "selected" in o.attrs] == ["medium"]
    radios = [(r.attrs["value"], "checked" in r.attrs) for r in node.find_all("input", type="radio")]
    assert radios == [("customer", False), ("vendor", True)]
    assert all("data-autosubmit" in f.attrs for f in node.find_all("form"))


def test_inputs_in_a_modal_are_fields_of_its_form_with_state_hint_and_errors():
    text = el("plain_text_input", "value", multiline=True, max_length=500)
    blocks = [
        field("reason", "Why?", text, hint=plain("Kept with the item.")),
        field("who", "Who owns it?", el("users_select", "value")),
        field("target", "Target", el("datepicker", "value"), optional=True),
    ]
    state = {"reason": {"value": {"type": "plain_text_input", "value": "Not <needed>"}}}
    errors = {"reason": "Say why."}
    node = page(blocks, where="view", view_id="V1", form_id="vf-V1", state=state, errors=errors)
    area = node.find("textarea")
    assert area.attrs["name"] == field_name(blocks[0], text) == "in:reason/value"
    assert area.attrs["form"] == "vf-V1" and "required" in area.attrs and area.attrs["maxlength"] == "500"
    assert area.text == "Not <needed>"
    label = node.find("label", cls="b-label")
    assert label.text == "Why?" and label.attrs["for"] == area.attrs["id"]
    assert node.find(cls="b-hint").text == "Kept with the item."
    assert node.find(cls="b-error").text == "Say why."
    assert "has-error" in node.find_all(cls="b-input")[0].classes
    assert node.find("select").attrs["form"] == "vf-V1"
    assert "aria-label" not in node.find("select").attrs  # the visible label names it
    assert node.find_all("label", cls="b-label")[2].find(cls="b-optional").text == "(optional)"
    assert not node.find_all("form"), "modal fields belong to the modal's form, not to forms of their own"


def test_elements_of_ephemeral_messages_say_where_they_are():
    node = page(
        [actions("a", el("button", "b", text=plain("Undo")))], where="ephemeral", channel="C0ACME", ts="2.5"
    )
    fields = node.find("form").form_fields()
    assert (fields["where"], fields["channel"], fields["ts"], fields["action_id"]) == (
        "ephemeral",
        "C0ACME",
        "2.5",
        "b",
    )


def test_message_without_blocks_shows_its_text():
    assert shown(render_message("plain *text* &amp; more", [], RenderContext())) == "plain text & more"


def test_form_values_map_fields_to_block_and_action_ids():
    blocks = [
        field("customer", "Name", el("plain_text_input", "value")),
        field("size", "Size", el("static_select", "value", options=[option("S", "small")])),
        field("pilot", "Pilot", el("checkboxes", "value", options=[option("Yes", "yes")]), optional=True),
        field("target", "Target", el("datepicker", "value"), optional=True),
        {"type": "section", "text": mrkdwn("not an input")},
    ]
    form = {
        "in:customer/value": ["Acme"],
        "in:size/value": ["small"],
        "in:pilot/value": ["yes"],
        "in:target/value": [""],
    }
    values, missing = form_values(blocks, form)
    assert values == {
        "customer": {"value": "Acme"},
        "size": {"value": "small"},
        "pilot": {"value": ["yes"]},
        "target": {"value": None},
    }
    assert missing == {}
    values, missing = form_values(blocks, {"in:customer/value": [""]})
    assert values["customer"] == {"value": None} and values["pilot"] == {"value": []}
    assert missing == {"customer": REQUIRED_MESSAGE, "size": REQUIRED_MESSAGE}


# ----- a real checklist message from the bot


def test_a_real_checklist_message_renders_and_shows_a_tick(harness):
    harness.command("start Acme Corp size=medium tz=Europe/Berlin")
    msg = next(m for m in harness.standin.messages(CHANNEL) if "checklist:" in m["text"])

    def render() -> Node:
        record = harness.standin.message(CHANNEL, msg["ts"])
        ctx = RenderContext(directory=DIRECTORY, channel=CHANNEL, ts=msg["ts"])
        return parse(render_message(record["text"], harness.standin.ws.filled_blocks(record), ctx))

    node = render()
    assert node.find(cls="b-header").text == "1. Discovery — checklist"
    assert "0 of 6 done" in node.find(cls="b-context").text
    boxes = node.find_all("input", type="checkbox")
    # The customer's two items have a box; the team's four are locked lines, marked done by the team.
    assert len(boxes) == 2 and not any("checked" in b.attrs for b in boxes)
    labels = [c.text for c in node.find_all(cls="choice-label")]
    assert labels[0] == "Walk us through your current setup, tech stack, processes and workflows"
    # (due dates are spread over the phase: the walk-through comes before the team maps the workflows)
    assert re.fullmatch(
        r"1\.5 · due \w{3} \d{1,2} Dec · unassigned", node.find_all(cls="choice-desc")[0].text
    )
    assert "🔒 Understand pricing complexity and needs" in node.text
    menus = node.find_all("details", cls="el-overflow")
    assert len(menus) == 6 and [b.text for b in menus[0].find_all("button")] == [
        "Assign…",
        "Change the due date…",
        "Not applicable…",
        "Blocked…",
        "Details",
    ]
    assert next(b.text for b in menus[-1].find_all("button")) == "Mark done"  # a team item's menu
    assert [f.find("button").text for f in node.find_all("form", cls="el-button")] == [
        "My tasks",
        "Add or suggest an item…",
    ]
    tick_form = node.find_all("form", cls="el-checkboxes")[0].form_fields()
    assert tick_form["block_id"].startswith("item:5:") and tick_form["action_id"] == "tick:5"

    harness.driver.click(CHANNEL, msg["ts"], "tick:5", user=CONTRIBUTOR.user_id, selected_options=["5"])
    harness.idle()
    node = render()
    boxes = node.find_all("input", type="checkbox")
    assert len(boxes) == 1 and not any("checked" in b.attrs for b in boxes), "the done item is folded"
    assert "1 of 6 done" in node.find(cls="b-context").text
    assert "✅ 1 done" in node.text and "Show all" in [b.text for b in node.find_all("button")]


# ----- small helpers of the session


def test_composer_text_is_escaped_and_mentions_become_tokens_as_slack_sends_them():
    assert slack_command_text("assign 1.5 @ada") == "assign 1.5 <@U0APPR|ada>"
    assert slack_command_text("assign 1.5 @Cody Contributor") == "assign 1.5 <@U0CONTRIB|cody>"
    # A typed @handle is one word: the next word is never swallowed as the rest of a name. The
    # whole name is a mention only as autocomplete writes it, with its capitals.
    assert slack_command_text("role @carl consultant") == "role <@U0CONS|carl> consultant"
    assert slack_command_text("role @Carl Consultant consultant") == "role <@U0CONS|carl> consultant"
    assert slack_command_text("role @cody contributor") == "role <@U0CONTRIB|cody> contributor"
    assert slack_command_text("mail me@ada.example") == "mail me@ada.example"
    assert slack_command_text("start A&B <Corp>") == "start A&amp;B &lt;Corp&gt;"
    assert slack_command_text("mail me@adam.example") == "mail me@adam.example"


def test_next_monday_nine_in_the_customer_zone():
    berlin = ZoneInfo("Europe/Berlin")
    monday_early = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # 08:00 in Berlin: today's 09:00 is next
    assert next_monday_9(monday_early, berlin) == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    monday_late = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09:00 in Berlin: a week later
    assert next_monday_9(monday_late, berlin) == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    summer_friday = datetime(2026, 7, 3, 12, 0, tzinfo=UTC)
    assert next_monday_9(summer_friday, berlin) == datetime(2026, 7, 6, 7, 0, tzinfo=UTC)


def test_every_emoji_the_templates_use_is_drawn() -> None:
    """The sandbox maps each :emoji: code the bot's templates and code send, so none shows as text."""
    import re
    from pathlib import Path

    from sandbox.mrkdwn import EMOJI

    root = Path(__file__).resolve().parents[2]
    used: set[str] = set()
    for pattern in ("messages/templates/*.j2", "bot/*.py", "bot/*/*.py", "handlers/*.py"):
        for f in root.glob(pattern):
            # Not after a word character: a key such as `role:approver:{gate}` is no emoji code.
            used |= set(re.findall(r"(?<!\w):([a-z_]{2,}):", f.read_text(encoding="utf-8")))
    assert used, "no emoji codes found"
    assert used <= set(EMOJI), f"not mapped: {sorted(used - set(EMOJI))}"
